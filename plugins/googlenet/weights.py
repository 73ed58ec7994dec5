"""GoogLeNet weight declarations and the caffe-tensorflow converter.

``bvlc``: BVLC's Caffe GoogLeNet (``bvlc_googlenet.caffemodel``, model zoo,
unrestricted use) as exported by caffe-tensorflow's ``convert.py``: ``np.save``
of a pickled dict ``{layer: {"weights": W, "biases": b}}`` keyed by Caffe's
layer names with ``/`` written as ``_`` (``conv1_7x7_s2``, ``inception_3a_1x1``
... ``loss3_classifier``), conv kernels in HWIO and fc kernels ``(in, out)``.
Nobody publishes that export with a hash, so the set lists no file: convert
the caffemodel yourself and pass ``weights=PATH``. The export is read once
with the restricted unpickler and cached as ``.npz`` (:mod:`hub_core.store.converters`).
"""

from __future__ import annotations

import pathlib

from hub_core.store.converters import text
from hub_core.hub.plugin import WeightSet

FORMAT = "caffe_tensorflow_npy"
TAG = "caffe_tensorflow"
CAFFEMODEL_URL = "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
CAFFEMODEL_SHA1 = "405fc5acd08a3bb12de8ee5e23a96bec22f08204"

BVLC = WeightSet(
    name="bvlc",
    license="BVLC model license: unrestricted use",
    description="ImageNet-1k (ILSVRC 2012) BVLC GoogLeNet (Caffe model zoo), as exported by caffe-tensorflow.",
    format=FORMAT,
    num_classes=1000,
    published=False,
    source=CAFFEMODEL_URL,
    note=(
        f"Not published as a download: BVLC publishes only {CAFFEMODEL_URL} (sha1 {CAFFEMODEL_SHA1}, "
        "no sha256). Convert it with caffe-tensorflow (convert.py deploy.prototxt --caffemodel "
        "bvlc_googlenet.caffemodel --data-output-path googlenet.npy) and load it with weights='googlenet.npy'."
    ),
)


def _weights_biases(params) -> list | None:
    if not isinstance(params, dict):
        return None
    params = {text(key): value for key, value in params.items()}
    return [params.get("weights"), params.get("biases")]


def read_caffe_tensorflow(path: pathlib.Path) -> dict:
    """Read a caffe-tensorflow export (``{layer: {"weights": W, "biases": b}}``) into ``{layer: [W, b]}``.

    Raises:
        WeightsError: When the restricted unpickler refuses the file or it is
            not a dict of ``{"weights", "biases"}`` dicts.
    """
    from hub_core.store.converters import read_pickled_layers

    return read_pickled_layers(path, _weights_biases, "a caffe-tensorflow export {layer: {'weights': W, 'biases': b}}")
