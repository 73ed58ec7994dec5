"""VGG16 / VGG19 builders with the keras.applications layer names and weight order.

Layers are ``block{b}_conv{i}`` / ``block{b}_pool``, then ``flatten``, ``fc1``,
``fc2`` and the classifier ``predictions`` built by :mod:`hub_core.vision`.
"""

from __future__ import annotations

import functools
from typing import Any

from hub_core import vision
from hub_plugins.vgg16 import weights as vgg_weights

FILTERS = (64, 128, 256, 512, 512)
DEPTHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_PREFIXES = ("block1_", "block2_", "block3_", "block4_", "block5_", "fc", "predictions")


def backbone(x, *, depths: tuple[int, ...]):
    """The five conv blocks, each ending in a 2x2 max-pool."""
    import keras

    for block, (filters, depth) in enumerate(zip(FILTERS, depths), start=1):
        for conv in range(1, depth + 1):
            x = keras.layers.Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{conv}"
            )(x)
        x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    return x


def head(x):
    """flatten, fc1 and fc2 (the classifier is added by hub_core.vision)."""
    import keras

    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc1")(x)
    return keras.layers.Dense(4096, activation="relu", name="fc2")(x)


@functools.lru_cache(maxsize=None)
def spec(variant: str) -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of ``"vgg16"`` or ``"vgg19"``.

    Feature stages are the last conv of each block (strides 1 to 16, as
    timm's ``features_only``) and ``block5_pool`` (stride 32).
    """
    depths = DEPTHS[variant]
    stages = tuple(vision.Stage(f"block{b}_conv{d}", 2 ** (b - 1)) for b, d in enumerate(depths, start=1))
    return vision.ImageSpec(
        name=variant,
        backbone=functools.partial(backbone, depths=depths),
        head=head,
        stages=stages + (vision.Stage("block5_pool", 32),),
        default_size=224,
        min_size=32,
        weight_readers={vgg_weights.HED_FORMAT: vgg_weights.read_hed_bsds500},
    )


def build(variant: str, *, weights=None, **kwargs: Any):
    """Build ``variant`` with the keras.applications signature plus the hub extras.

    See :func:`hub_core.vision.build_model` for the arguments.
    """
    return vision.build_model(spec(variant), weights=weights, **kwargs)
