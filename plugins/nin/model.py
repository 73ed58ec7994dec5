"""Network in Network for 32x32 images: three mlpconv blocks, a 1x1-convolution classifier, global average pooling.

As the authors' CIFAR-10 Caffe net: each mlpconv block is a convolution
(5x5, 5x5, 3x3) and two 1x1 convolutions (``cccp``), all ReLU; blocks 1 and 2
end in a 3x3/2 pooling (max, then average) and dropout 0.5. One addition: a
BatchNormalization after each convolution (``*_bn``, folded into the
convolution for bfloat16 inference; momentum 0.9, so its statistics settle
within a few hundred steps), which lets the net train from random weights
in a few epochs (without it, Adam needs many more). Block 3's last
1x1 convolution is the classifier (``predictions``, one map per class, no
ReLU so its averages are free logits), averaged over the image
(``avg_pool``); there is no Dense layer.
"""

from __future__ import annotations

from hub_core import vision
from hub_core.vision.layers import FoldableBatchNormalization, FoldableConv2D

# (first kernel, filters of the conv and the two 1x1 convs, pooling after the block)
BLOCKS = ((5, (192, 160, 96), "max"), (5, (192, 192, 192), "avg"), (3, (192, 192), None))
BLOCK_PREFIXES = ("block1_", "block2_", "block3_", "predictions")


def backbone(x):
    """The mlpconv blocks up to the classifier (block 3 holds the conv and the first 1x1 conv)."""
    import keras

    for block, (kernel, filters, pooling) in enumerate(BLOCKS, start=1):
        for index, width in enumerate(filters):
            size, name = (kernel, "conv") if index == 0 else (1, f"cccp{index}")
            x = FoldableConv2D(width, size, padding="same", name=f"block{block}_{name}")(x)
            x = FoldableBatchNormalization(momentum=0.9, name=f"block{block}_{name}_bn")(x)
            x = keras.layers.ReLU(name=f"block{block}_{name}_relu")(x)
        if pooling is not None:
            pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
            x = pool(3, strides=2, padding="same", name=f"block{block}_pool")(x)
            x = keras.layers.Dropout(0.5, name=f"block{block}_dropout")(x)
    return x


def classifier(x, classes: int):
    """The last 1x1 convolution (one map per class) and global average pooling: the logits."""
    import keras

    x = keras.layers.Conv2D(classes, 1, name="predictions")(x)
    return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)


def spec(variant: str) -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of ``nin_cifar``; the stages are the three blocks' outputs."""
    return vision.ImageSpec(
        name=variant,
        backbone=backbone,
        head=lambda x: x,
        classifier=classifier,
        stages=(vision.Stage("block1_cccp2_relu", 1), vision.Stage("block2_cccp2_relu", 2),
                vision.Stage("block3_cccp1_relu", 4)),
        default_size=32,
        min_size=8,
        classes=10,
    )
