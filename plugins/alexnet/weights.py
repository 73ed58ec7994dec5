"""AlexNet weight declarations and the ``bvlc_alexnet.npy`` converter.

``bvlc``: BVLC's Caffe AlexNet (``bvlc_alexnet.caffemodel``) as converted by
caffe-tensorflow and published by Michael Guerzhoy with the TensorFlow
AlexNet the seed notes use. The file is ``np.save`` of a pickled dict
``{"conv1": [W, b], ..., "fc8": [W, b]}`` with conv kernels in HWIO (grouped
layers hold ``in_channels / 2`` inputs) and fc kernels as ``(in, out)`` over
the HWC-flattened pool5. It is read once with the restricted unpickler and
cached as ``.npz`` (:mod:`hub_core.store.converters`).
"""

from __future__ import annotations

import pathlib

from hub_core.hub.plugin import WeightFile, WeightSet

FORMAT = "bvlc_alexnet_npy"
TAG = "bvlc_alexnet"

BVLC = WeightSet(
    name="bvlc",
    files=(
        WeightFile(
            url="http://www.cs.toronto.edu/~guerzhoy/tf_alexnet/bvlc_alexnet.npy",
            sha256="1294ef51496c52f2e4879ee3b5e1da22c35d61f3240937491b4469403d5428cc",
        ),
    ),
    license="BVLC model license: unrestricted use",
    description="ImageNet-1k (ILSVRC 2012) BVLC AlexNet (Caffe model zoo), converted to a numpy dict by caffe-tensorflow.",
    format=FORMAT,
    num_classes=1000,
    note=(
        "The host publishes no hash; the sha256 is the one a third-party reproduction recorded for this URL "
        "(huggingface.co/repro-sign/camgoz-nslt model card). The file is a pickle, read with a restricted "
        "unpickler and converted once to .npz."
    ),
)


def _kernel_bias(params) -> list | None:
    return list(params) if isinstance(params, (list, tuple)) and len(params) == 2 else None


def read_bvlc_alexnet(path: pathlib.Path) -> dict:
    """Read ``bvlc_alexnet.npy`` (a pickled ``{layer: [W, b]}``) into ``{layer: [W, b]}`` float32.

    Raises:
        WeightsError: When the restricted unpickler refuses the file or it is
            not a dict of ``[kernel, bias]`` pairs.
    """
    from hub_core.store.converters import read_pickled_layers

    return read_pickled_layers(path, _kernel_bias, "the {layer: [kernel, bias]} dict of bvlc_alexnet.npy")
