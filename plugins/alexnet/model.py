"""AlexNet in plain Keras 3: the BVLC Caffe network and the single-tower variant.

``bvlc`` is Caffe's ``models/bvlc_alexnet/deploy.prototxt`` layer for layer:
227x227x3 input, unpadded 11x11/4 conv1, LRN, ceil-mode max pools, channel
groups of 2 in conv2/4/5. Layer names are Caffe's (``conv1`` ... ``fc8``),
which are also the keys of the converted ``bvlc_alexnet.npy``. (The
TensorFlow port in the seed notes pads conv1 "SAME", giving 57x57 maps; Caffe,
where the weights were trained, does not pad, giving 55x55. Both reach the
6x6 pool5, and this module follows Caffe.)

``single_tower`` is torchvision's ``alexnet`` ("One weird trick",
Krizhevsky 2014): 64-192-384-256-256 filters, no groups, no LRN, floor-mode pools.
"""

from __future__ import annotations

import functools
from typing import Any

from keras import layers

from hub_core import vision

from hub_core.store import converters
from hub_core.vision.caffe_layers import CaffeMaxPooling2D, GroupedConv2D, LocalResponseNormalization
from hub_plugins.alexnet import weights as alexnet_weights

# (filters, kernel, stride, zero padding, groups) of conv1..conv5.
CONVS = {
    "bvlc": ((96, 11, 4, 0, 1), (256, 5, 1, 2, 2), (384, 3, 1, 1, 1), (384, 3, 1, 1, 2), (256, 3, 1, 1, 2)),
    "single_tower": ((64, 11, 4, 2, 1), (192, 5, 1, 2, 1), (384, 3, 1, 1, 1), (256, 3, 1, 1, 1), (256, 3, 1, 1, 1)),
}
FC_UNITS = 4096
DROPOUT = 0.5
# Caffe's norm1/norm2 (local_size 5, alpha 1e-4) in tf.nn terms.
LRN = dict(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75)
# Fine-tuning blocks, from input to output.
BLOCK_PREFIXES = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

# Feature stages: (layer, stride); conv layers output after their ReLU.
STAGES = (("conv1", 4), ("conv2", 8), ("conv5", 16), ("pool5", 32))
VARIANTS = {"bvlc": "alexnet", "single_tower": "alexnet_single_tower"}
# Smallest input whose pool5 is still 1x1.
MIN_SIZE = 63


def _conv(x, index: int, spec: tuple[int, int, int, int, int]):
    filters, kernel, stride, pad, groups = spec
    # Caffe pads symmetrically; Keras "same" would pad the stride-4 conv1 unevenly.
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"conv{index}_pad")(x)
    return GroupedConv2D(filters, kernel, strides=stride, groups=groups, activation="relu", name=f"conv{index}")(x)


def backbone(x, *, architecture: str = "bvlc"):
    """conv1 ... pool5 (stride 32) on the preprocessed input (NHWC; caffe mode for ``bvlc``)."""
    caffe = architecture == "bvlc"
    pool = CaffeMaxPooling2D if caffe else layers.MaxPooling2D
    for index, spec in enumerate(CONVS[architecture], start=1):
        x = _conv(x, index, spec)
        if caffe and index in (1, 2):
            x = LocalResponseNormalization(**LRN, name=f"norm{index}")(x)
        if index in (1, 2, 5):
            x = pool(3, 2, name=f"pool{index}")(x)
    return x


def head(x, *, architecture: str = "bvlc"):
    """fc6 and fc7 (4096, ReLU, dropout 0.5) on the flattened pool5; vision adds ``fc8``.

    Caffe drops out after fc6/fc7, torchvision before them.
    """
    caffe = architecture == "bvlc"
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc6", "fc7"):
        if not caffe:
            x = layers.Dropout(DROPOUT, name=f"{name}_dropout")(x)
        x = layers.Dense(FC_UNITS, activation="relu", name=name)(x)
        if caffe:
            x = layers.Dropout(DROPOUT, name=f"drop{name[2:]}")(x)
    return x


@functools.lru_cache(maxsize=None)
def spec(architecture: str) -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of ``"bvlc"`` or ``"single_tower"``."""
    caffe = architecture == "bvlc"
    return vision.ImageSpec(
        name=VARIANTS[architecture],
        backbone=functools.partial(backbone, architecture=architecture),
        head=functools.partial(head, architecture=architecture),
        stages=tuple(vision.Stage(name, stride) for name, stride in STAGES),
        default_size=227 if caffe else 224,
        min_size=MIN_SIZE,
        classifier_name="fc8",
        weight_readers={alexnet_weights.FORMAT: converters.reader(alexnet_weights.read_bvlc_alexnet, alexnet_weights.TAG)},
    )


def build(variant: str, *, architecture: str, weights=None, **kwargs: Any):
    """Build AlexNet (``architecture`` "bvlc" or "single_tower") with the keras.applications signature.

    A user-supplied ``bvlc_alexnet.npy`` (path or URL) is converted once to
    ``.npz``; see :func:`hub_core.vision.build_model` for the arguments.
    """
    weights = converters.user_ref(weights, alexnet_weights.read_bvlc_alexnet, alexnet_weights.TAG)
    return vision.build_model(spec(architecture), weights=weights, **kwargs)
