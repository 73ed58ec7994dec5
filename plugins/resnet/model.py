"""ResNet bodies in plain Keras 3: ImageNet ResNet v1 and CIFAR pre-activation ResNets.

The ImageNet bodies reproduce ``keras.applications.ResNet50/101/152`` layer
for layer (names, order, epsilons), so the published keras-applications weight
files load unchanged. The CIFAR bodies follow tflearn's ``residual_block``
(full pre-activation, He et al. 2016) as used by its CIFAR-10 example.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import layers

from hub_core import vision
from hub_core.errors import InvalidArgumentError
from hub_core.vision.layers import FoldableBatchNormalization, FoldableConv2D

BN_EPSILON = 1.001e-5

# Bottleneck blocks per stage (conv2..conv5) of the ImageNet ResNets.
IMAGENET_BLOCKS = {
    "resnet50": (3, 4, 6, 3),
    "resnet101": (3, 4, 23, 3),
    "resnet152": (3, 8, 36, 3),
}
# Widths of the three CIFAR stages and the first convolution.
CIFAR_WIDTHS = (16, 32, 64)
SHORTCUTS = ("identity", "projection")


def bottleneck_block(x, filters: int, stride: int = 1, conv_shortcut: bool = True, name: str = ""):
    """One ResNet v1 bottleneck block (1x1, 3x3, 1x1 convolutions), as in Keras.

    Args:
        x: Input tensor (NHWC).
        filters: Width of the bottleneck; the block outputs ``4 * filters`` channels.
        stride: Stride of the first 1x1 convolution and of the shortcut.
        conv_shortcut: Project the shortcut with a 1x1 convolution, else identity.
        name: Prefix of the layer names (``conv2_block1``).

    Returns:
        The block's output tensor.
    """
    if conv_shortcut:
        shortcut = FoldableConv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = FoldableBatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = FoldableConv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = FoldableBatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = FoldableConv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = FoldableBatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = FoldableConv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = FoldableBatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def imagenet_backbone(x, blocks: tuple[int, ...]):
    """The ResNet v1 trunk (stem and stages conv2..conv5), as keras.applications.

    Args:
        x: Preprocessed image tensor (NHWC, caffe mode).
        blocks: Bottleneck blocks in each of the four stages.

    Returns:
        The output of the last block (stride 32, 2048 channels); the stage
        outputs are the layers named by :func:`imagenet_stage_names`.
    """
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = FoldableConv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = FoldableBatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for index, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        stage = f"conv{index + 2}"
        x = bottleneck_block(x, filters, stride=1 if index == 0 else 2, name=f"{stage}_block1")
        for block in range(2, count + 1):
            x = bottleneck_block(x, filters, conv_shortcut=False, name=f"{stage}_block{block}")
    return x


def imagenet_stage_names(blocks: tuple[int, ...]) -> list[tuple[str, int]]:
    """``(layer name, stride)`` of the stem and of each stage's last block."""
    stages = [(f"conv{index + 2}_block{count}_out", 2 ** (index + 2)) for index, count in enumerate(blocks)]
    return [("conv1_relu", 2), *stages]


@keras.saving.register_keras_serializable(package="hub_resnet")
class ChannelPadding(layers.Layer):
    """Zero-pads the channel axis symmetrically (the "option A" shortcut).

    Args:
        padding: Zero channels added on each side.
    """

    def __init__(self, padding: int, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        return keras.ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [self.padding, self.padding]])

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + 2 * self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def preact_block(x, filters: int, stride: int, shortcut: str, weight_decay: float, name: str):
    """One full pre-activation basic block (BN-ReLU-conv3x3, twice), as tflearn's.

    Args:
        x: Input tensor.
        filters: Output channels.
        stride: Stride of the first convolution (2 where a stage starts).
        shortcut: ``"identity"``: subsample and zero-pad the channels (option A);
            ``"projection"``: a strided 1x1 convolution where the shape changes (option B).
        weight_decay: tflearn's L2 decay of the convolution kernels.
        name: Prefix of the layer names.

    Returns:
        The block's output tensor.
    """
    conv = _cifar_conv(weight_decay)
    in_channels = x.shape[-1]
    identity = x
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = conv(filters, 3, stride, f"{name}_1_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = conv(filters, 3, 1, f"{name}_2_conv")(x)
    if shortcut == "projection" and (stride > 1 or in_channels != filters):
        identity = conv(filters, 1, stride, f"{name}_0_conv")(identity)
    else:
        if stride > 1:
            identity = layers.AveragePooling2D(1, strides=stride, name=f"{name}_0_pool")(identity)
        if in_channels != filters:
            identity = ChannelPadding((filters - in_channels) // 2, name=f"{name}_0_pad")(identity)
    return layers.Add(name=f"{name}_add")([identity, x])


def _cifar_conv(weight_decay: float):
    # tflearn's L2 is decay * sum(w**2) / 2; Keras' L2(l) is l * sum(w**2).
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def conv(filters, kernel, stride, name):
        return layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=name,
        )

    return conv


def cifar_depth_blocks(depth: int) -> int:
    """Blocks per stage ``n`` of a 6n+2-layer CIFAR ResNet.

    Raises:
        ValueError: When ``depth`` is not of the form 6n+2.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110...), got {depth}")
    return (depth - 2) // 6


def cifar_backbone(x, depth: int, shortcut: str = "identity", weight_decay: float = 1e-4):
    """The CIFAR pre-activation ResNet trunk of tflearn's example.

    Args:
        x: Preprocessed image tensor (NHWC).
        depth: 6n+2 (20, 32, 56, 110).
        shortcut: ``"identity"`` (zero-padded channels) or ``"projection"`` (1x1 convolutions).
        weight_decay: L2 decay of the convolution kernels, in tflearn's convention.

    Returns:
        The trunk's output after the final BN-ReLU (stride 4, 64 channels); the
        stage outputs are the layers named by :func:`cifar_stage_names`.
    """
    if shortcut not in SHORTCUTS:
        raise InvalidArgumentError(f"shortcut must be one of {', '.join(SHORTCUTS)}, not {shortcut!r}.")
    n = cifar_depth_blocks(depth)
    x = _cifar_conv(weight_decay)(CIFAR_WIDTHS[0], 3, 1, "conv1_conv")(x)
    for index, filters in enumerate(CIFAR_WIDTHS):
        for block in range(1, n + 1):
            stride = 2 if index > 0 and block == 1 else 1
            x = preact_block(x, filters, stride, shortcut, weight_decay, f"stage{index + 1}_block{block}")
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="post_bn")(x)
    return layers.Activation("relu", name="post_relu")(x)


def cifar_stage_names(depth: int) -> list[tuple[str, int]]:
    """``(layer name, stride)`` of each stage's output (the last one after the final BN-ReLU)."""
    n = cifar_depth_blocks(depth)
    return [(f"stage1_block{n}_add", 1), (f"stage2_block{n}_add", 2), ("post_relu", 4)]


BLOCK_PREFIXES = ("conv1_", "conv2_", "conv3_", "conv4_", "conv5_", "stage1_", "stage2_", "stage3_", "post_")


@functools.lru_cache(maxsize=None)
def spec(variant: str, shortcut: str = "identity", weight_decay: float = 1e-4) -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of a resnet variant.

    Args:
        variant: ``resnet50/101/152`` or ``resnet<6n+2>`` (CIFAR).
        shortcut: CIFAR variants only: ``"identity"`` or ``"projection"``.
        weight_decay: CIFAR variants only: L2 decay of the convolution kernels.
    """
    if variant in IMAGENET_BLOCKS:
        blocks = IMAGENET_BLOCKS[variant]
        return vision.ImageSpec(
            name=variant,
            backbone=functools.partial(imagenet_backbone, blocks=blocks),
            stages=tuple(vision.Stage(name, stride) for name, stride in imagenet_stage_names(blocks)),
            default_size=224,
            min_size=32,
        )
    depth = int(variant.removeprefix("resnet"))
    return vision.ImageSpec(
        name=variant,
        backbone=functools.partial(cifar_backbone, depth=depth, shortcut=shortcut, weight_decay=weight_decay),
        stages=tuple(vision.Stage(name, stride) for name, stride in cifar_stage_names(depth)),
        default_size=32,
        min_size=8,
    )


def build(variant: str, *, weights=None, shortcut: str | None = None, weight_decay: float | None = None, **kwargs: Any):
    """Build a resnet variant with the keras.applications signature plus the hub extras.

    Args:
        variant: The variant name.
        weights: A :class:`~hub_core.hub.plugin.WeightsRef` or None.
        shortcut: CIFAR variants: ``"identity"`` (zero-padded, default) or ``"projection"``.
        weight_decay: CIFAR variants: L2 decay of the kernels (tflearn's 1e-4 by default).
        **kwargs: See :func:`hub_core.vision.build_model`; CIFAR variants default to 10 classes.

    Raises:
        InvalidArgumentError: For CIFAR-only options on ImageNet variants, or a bad shortcut.
    """
    if variant in IMAGENET_BLOCKS:
        if shortcut is not None or weight_decay is not None:
            raise InvalidArgumentError(
                f"shortcut and weight_decay apply to the CIFAR ResNets (resnet20/32/56/110), not {variant}; drop them."
            )
        return vision.build_model(spec(variant), weights=weights, **kwargs)
    if kwargs.get("num_classes") is None:
        kwargs.setdefault("classes", 10)
    decay = 1e-4 if weight_decay is None else float(weight_decay)
    return vision.build_model(spec(variant, shortcut or "identity", decay), weights=weights, **kwargs)
