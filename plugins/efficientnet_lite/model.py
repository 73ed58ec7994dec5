"""EfficientNet-Lite0..4 in plain Keras 3 layers.

EfficientNet-Lite (Tan & Le; the TensorFlow TPU repository's ``efficientnet/lite``)
is EfficientNet-B0's inverted-residual trunk made friendly to integer and
mobile accelerators: no squeeze-and-excitation, ReLU6 instead of swish, and the
stem (32 channels) and head (1280 channels) kept fixed when the family is
scaled, as are the repeats of the first and last stages. Convolutions use
TensorFlow's ``"same"`` padding (the weights were trained in TensorFlow),
BatchNormalization epsilon 1e-3 and momentum 0.99 (PyTorch's 0.01).

The Conv2D + BatchNormalization pairs are the hub's ``FoldableConv2D`` /
``FoldableBatchNormalization`` (stock Keras layers with the same weights,
folded into one convolution under ``precision="auto"``); depthwise
convolutions are ``keras.layers.DepthwiseConv2D``. Stochastic depth (drop
connect) of the original training recipe is not part of the model.

Layer names follow keras.applications' EfficientNet: ``stem_conv``,
``block{stage}{letter}_expand_conv`` / ``_dwconv`` / ``_project_conv`` with
their ``_bn``, ``top_conv``, ``avg_pool`` and the classifier ``predictions``.
"""

from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass
from typing import Any

from hub_core import vision
from hub_plugins.efficientnet_lite import weights as lite_weights

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280


@dataclass(frozen=True)
class StageArgs:
    """One stage of inverted-residual blocks of EfficientNet-B0."""

    repeats: int
    kernel_size: int
    strides: int
    expand_ratio: int
    filters: int


# EfficientNet-B0's seven stages, shared by every Lite model.
STAGES = (
    StageArgs(1, 3, 1, 1, 16),
    StageArgs(2, 3, 2, 6, 24),
    StageArgs(2, 5, 2, 6, 40),
    StageArgs(3, 3, 2, 6, 80),
    StageArgs(3, 5, 1, 6, 112),
    StageArgs(4, 5, 2, 6, 192),
    StageArgs(1, 3, 1, 6, 320),
)
# variant -> (width multiplier, depth multiplier, resolution), as efficientnet_lite_builder.py.
SCALING = {
    "efficientnet_lite0": (1.0, 1.0, 224),
    "efficientnet_lite1": (1.0, 1.1, 240),
    "efficientnet_lite2": (1.1, 1.2, 260),
    "efficientnet_lite3": (1.2, 1.4, 280),
    "efficientnet_lite4": (1.4, 1.8, 300),
}
BLOCK_PREFIXES = ("stem_", *(f"block{s}" for s in range(1, len(STAGES) + 1)), "top_", "predictions")
# Stages whose last block is a feature stage, with their strides (timm's features_only choice).
FEATURE_STAGES = ((1, 2), (2, 4), (3, 8), (5, 16), (7, 32))


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """``filters * width`` rounded to a multiple of ``divisor``, never down by more than 10%."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_repeats(index: int, repeats: int, depth: float) -> int:
    """Blocks in stage ``index`` (0-based): ``ceil(repeats * depth)``, the first and last stages fixed."""
    return repeats if index in (0, len(STAGES) - 1) else int(math.ceil(repeats * depth))


def block_names(variant: str) -> list[tuple[str, int, StageArgs, int]]:
    """``(layer prefix, stage, stage args, block index in stage)`` of every block, input to output."""
    width, depth, _ = SCALING[variant]
    names = []
    for index, stage in enumerate(STAGES):
        scaled = StageArgs(stage_repeats(index, stage.repeats, depth), stage.kernel_size, stage.strides,
                           stage.expand_ratio, round_filters(stage.filters, width))
        for block in range(scaled.repeats):
            names.append((f"block{index + 1}{string.ascii_lowercase[block]}_", index + 1, scaled, block))
    return names


def _conv_bn(x, filters: int, kernel_size: int, strides: int, name: str, activate: bool = True):
    """Conv2D (no bias), BatchNormalization and, when ``activate``, ReLU6."""
    import keras

    from hub_core.vision.layers import FoldableBatchNormalization, FoldableConv2D

    x = FoldableConv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                       kernel_initializer=_kernel_initializer(), name=f"{name}conv")(x)
    x = FoldableBatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}bn")(x)
    return keras.layers.ReLU(max_value=6.0, name=f"{name}relu6")(x) if activate else x


def _kernel_initializer():
    import keras

    return keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")


def inverted_residual(x, prefix: str, stage: StageArgs, strides: int):
    """One MBConv block without squeeze-excite: 1x1 expand, depthwise, 1x1 project, identity skip."""
    import keras

    channels = x.shape[-1]
    inputs = x
    if stage.expand_ratio != 1:
        x = _conv_bn(x, channels * stage.expand_ratio, 1, 1, f"{prefix}expand_")
    x = keras.layers.DepthwiseConv2D(stage.kernel_size, strides=strides, padding="same", use_bias=False,
                                     depthwise_initializer=_kernel_initializer(), name=f"{prefix}dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name=f"{prefix}relu6")(x)
    x = _conv_bn(x, stage.filters, 1, 1, f"{prefix}project_", activate=False)
    if strides == 1 and channels == stage.filters:
        x = keras.layers.Add(name=f"{prefix}add")([x, inputs])
    return x


def block_output(prefix: str, block: int) -> str:
    """The layer whose output is the block's output: only blocks after a stage's first have a skip."""
    return f"{prefix}add" if block else f"{prefix}project_bn"


def backbone(x, *, variant: str):
    """Stem, the seven stages and the 1x1 head convolution (1280 channels, stride 32)."""
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem_")
    for prefix, _, stage, block in block_names(variant):
        x = inverted_residual(x, prefix, stage, stage.strides if block == 0 else 1)
    return _conv_bn(x, HEAD_FILTERS, 1, 1, "top_")


@functools.lru_cache(maxsize=None)
def spec(variant: str) -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of an EfficientNet-Lite variant.

    Feature stages are the last blocks of stages 1, 2, 3, 5 and 7 (strides 2
    to 32), as timm's ``features_only`` for EfficientNets.
    """
    last = {}
    for prefix, stage_index, _, block in block_names(variant):
        last[stage_index] = block_output(prefix, block)
    return vision.ImageSpec(
        name=variant,
        backbone=functools.partial(backbone, variant=variant),
        stages=tuple(vision.Stage(last[stage], stride) for stage, stride in FEATURE_STAGES),
        default_size=SCALING[variant][2],
        min_size=32,
        weight_readers={lite_weights.FORMAT: lite_weights.read_imagenet},
    )


def build(variant: str, *, weights=None, **kwargs: Any):
    """Build ``variant`` with the keras.applications signature plus the hub extras.

    See :func:`hub_core.vision.build_model` for the arguments.
    """
    return vision.build_model(spec(variant), weights=weights, **kwargs)
