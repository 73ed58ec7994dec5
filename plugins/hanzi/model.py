"""The notes' Chinese-character network: two 3x3 convolutions, each followed by 2x2 max pooling, and one Dense layer.

Chapter 8 of the notes (``network`` in "TensorFlow与中文手写汉字识别") builds,
with TF-slim, ``conv2d(32, 3x3, SAME)`` (slim's default ReLU), ``max_pool2d(2x2,
stride 2, SAME)``, ``conv2d(64, 3x3, SAME)``, ``max_pool2d`` again, ``flatten`` and
``fully_connected(3755)`` on 64x64 grayscale pixels scaled to 0..1, reporting
top-1 and top-3 accuracy. The same layers here; the classifier has one unit
per class of the data (500 by default, the data set of
:func:`hub_core.data.characters`).
"""

from __future__ import annotations

from hub_core import vision

BLOCK_PREFIXES = ("conv1", "conv2", "predictions")
SIZE = 64
CLASSES = 500


def backbone(x):
    """``conv1`` (32 filters) and ``pool1``, ``conv2`` (64 filters) and ``pool2``."""
    import keras

    for stage, filters in enumerate((32, 64), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage}")(x)
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{stage}")(x)
    return x


def head(x):
    """Flatten, as the notes' ``slim.flatten``: the Dense classifier sees every position."""
    import keras

    return keras.layers.Flatten(name="flatten")(x)


def spec(variant: str) -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of ``hanzi_2conv``; the stages are the two convolutions."""
    return vision.ImageSpec(
        name=variant,
        backbone=backbone,
        head=head,
        stages=(vision.Stage("conv1", 1), vision.Stage("conv2", 2)),
        default_size=SIZE,
        min_size=4,
        classes=CLASSES,
    )
