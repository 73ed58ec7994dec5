"""Weight sets of the inception_resnet_v2 plugin: the keras-applications ImageNet files.

The files are the ones ``keras.applications.InceptionResNetV2`` downloads
(legacy Keras h5, layers matched by order), with the md5 hashes published in
``keras/src/applications/inception_resnet_v2.py``.
"""

from __future__ import annotations

import re

from hub_core.hub.plugin import WeightFile, WeightSet

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
STEM = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels"

IMAGENET = WeightSet(
    name="imagenet",
    files=(
        WeightFile(url=f"{BASE_URL}{STEM}.h5", md5="e693bd0210a403b3192acc6073ad2e96", role="top"),
        WeightFile(url=f"{BASE_URL}{STEM}_notop.h5", md5="d19885ff4a710c122648d3b5c3b684e4", role="notop"),
    ),
    license="Apache-2.0",
    description="ImageNet-1k (ILSVRC 2012) classification, ported from the TF-slim checkpoint by keras-applications.",
    format="keras_h5",
    num_classes=1000,
    note="Legacy Keras h5 as published by keras-applications; only md5 hashes are published.",
)

# Layers keras.applications leaves unnamed that carry weights: Keras names them
# "<prefix>", "<prefix>_1"... (Keras 2 started at "<prefix>_1"), counting per process.
AUTO_NAMED = ("conv2d", "batch_normalization")
_AUTO_NAME = re.compile(r"^(?P<prefix>conv2d|batch_normalization)(?:_(?P<number>\d+))?$")


def rename_auto_named(arrays: dict[str, list]) -> dict[str, list]:
    """Give a weight file's automatically named layers this plugin's names.

    The n-th ``conv2d`` (by its number) becomes ``conv2d`` for n = 0 and
    ``conv2d_<n>`` otherwise, and likewise for ``batch_normalization``: the
    names a fresh process gives keras.applications' layers, which the plugin
    uses. Explicitly named layers (``block35_1_conv``, ``conv_7b``,
    ``predictions``) keep their names. A file written by this plugin maps to
    itself.

    Args:
        arrays: ``{layer_name: [arrays]}`` as read from the file.

    Returns:
        The same arrays under the plugin's layer names.
    """
    ranked: dict[str, list[tuple[int, str]]] = {prefix: [] for prefix in AUTO_NAMED}
    renamed = {}
    for name, values in arrays.items():
        match = _AUTO_NAME.match(name)
        if match is None:
            renamed[name] = values
        else:
            ranked[match["prefix"]].append((int(match["number"] or -1), name))
    for prefix, names in ranked.items():
        for rank, (_, name) in enumerate(sorted(names)):
            renamed[prefix if rank == 0 else f"{prefix}_{rank}"] = arrays[name]
    return renamed
