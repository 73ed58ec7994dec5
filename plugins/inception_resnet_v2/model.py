"""Inception-ResNet-v2 body in plain Keras 3, layer for layer as keras.applications.

keras.applications leaves most layers unnamed, so their names come from
Keras' global counters and depend on what the process built before. Here the
same names are given deterministically (the names a fresh process gets:
``conv2d``, ``conv2d_1``, ..., ``batch_normalization_5``), and the layers are
created in the same order, so the published weight files (matched by order)
load unchanged.
"""

from __future__ import annotations

import collections
from typing import Any

import keras
from keras import layers

from hub_core import vision
from hub_core.vision.layers import FoldableBatchNormalization, FoldableConv2D
from hub_plugins.inception_resnet_v2.weights import rename_auto_named

# Residual scale and repeats of the three Inception-ResNet block types.
BLOCK_REPEATS = (("block35", 0.17, 10), ("block17", 0.1, 20), ("block8", 0.2, 10))
# Feature stages: (layer, stride). The stem stages are the 3rd and 5th conv-BN-ReLU.
STAGES = (
    ("activation_2", 2),
    ("activation_4", 4),
    ("block35_10_ac", 8),
    ("block17_20_ac", 16),
    ("conv_7b_ac", 32),
)
# Layers after which a fine-tuning block ends: the stem, each mixed/reduction
# block, each residual block and the final 1x1 convolution.
BLOCK_ENDS = frozenset(
    ["max_pooling2d_1", "mixed_5b", "mixed_6a", "mixed_7a", "conv_7b_ac"]
    + [f"{block}_{i}_conv" for block, _, repeats in BLOCK_REPEATS for i in range(1, repeats + 1)]
)


@keras.saving.register_keras_serializable(package="hub_inception_resnet_v2")
class CustomScaleLayer(layers.Layer):
    """``inputs[0] + inputs[1] * scale``: the scaled residual sum of Inception-ResNet.

    Args:
        scale: Factor applied to the residual branch.
    """

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


class _Names:
    """Keras' automatic layer names (``conv2d``, ``conv2d_1``...), counted per build."""

    def __init__(self):
        self.counts = collections.Counter()

    def __call__(self, prefix: str, name: str | None = None) -> str:
        if name is not None:
            return name
        count = self.counts[prefix]
        self.counts[prefix] += 1
        return prefix if count == 0 else f"{prefix}_{count}"


def _conv_bn(names, x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False, name=None):
    x = FoldableConv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=names("conv2d", name)
    )(x)
    if not use_bias:
        bn_name = None if name is None else f"{name}_bn"
        x = FoldableBatchNormalization(axis=3, scale=False, name=names("batch_normalization", bn_name))(x)
    if activation is not None:
        ac_name = None if name is None else f"{name}_ac"
        x = layers.Activation(activation, name=names("activation", ac_name))(x)
    return x


def _residual_block(names, x, scale, block_type, block_idx, activation="relu"):
    if block_type == "block35":
        branch_0 = _conv_bn(names, x, 32, 1)
        branch_1 = _conv_bn(names, x, 32, 1)
        branch_1 = _conv_bn(names, branch_1, 32, 3)
        branch_2 = _conv_bn(names, x, 32, 1)
        branch_2 = _conv_bn(names, branch_2, 48, 3)
        branch_2 = _conv_bn(names, branch_2, 64, 3)
        branches = [branch_0, branch_1, branch_2]
    elif block_type == "block17":
        branch_0 = _conv_bn(names, x, 192, 1)
        branch_1 = _conv_bn(names, x, 128, 1)
        branch_1 = _conv_bn(names, branch_1, 160, [1, 7])
        branch_1 = _conv_bn(names, branch_1, 192, [7, 1])
        branches = [branch_0, branch_1]
    else:
        branch_0 = _conv_bn(names, x, 192, 1)
        branch_1 = _conv_bn(names, x, 192, 1)
        branch_1 = _conv_bn(names, branch_1, 224, [1, 3])
        branch_1 = _conv_bn(names, branch_1, 256, [3, 1])
        branches = [branch_0, branch_1]
    block_name = f"{block_type}_{block_idx}"
    mixed = layers.Concatenate(axis=3, name=f"{block_name}_mixed")(branches)
    up = _conv_bn(names, mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
    x = CustomScaleLayer(scale, name=names("custom_scale_layer"))([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{block_name}_ac")(x)
    return x


def backbone(x):
    """The Inception-ResNet-v2 trunk, up to ``conv_7b_ac`` (stride 32, 1536 channels).

    Args:
        x: Preprocessed image tensor (NHWC, tf mode: values in [-1, 1]).

    Returns:
        The trunk's output; the stage outputs are the layers in :data:`STAGES`.
    """
    names = _Names()
    x = _conv_bn(names, x, 32, 3, strides=2, padding="valid")
    x = _conv_bn(names, x, 32, 3, padding="valid")
    x = _conv_bn(names, x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2, name=names("max_pooling2d"))(x)
    x = _conv_bn(names, x, 80, 1, padding="valid")
    x = _conv_bn(names, x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2, name=names("max_pooling2d"))(x)

    # Mixed 5b (Inception-A block).
    branch_0 = _conv_bn(names, x, 96, 1)
    branch_1 = _conv_bn(names, x, 48, 1)
    branch_1 = _conv_bn(names, branch_1, 64, 5)
    branch_2 = _conv_bn(names, x, 64, 1)
    branch_2 = _conv_bn(names, branch_2, 96, 3)
    branch_2 = _conv_bn(names, branch_2, 96, 3)
    branch_pool = layers.AveragePooling2D(3, strides=1, padding="same", name=names("average_pooling2d"))(x)
    branch_pool = _conv_bn(names, branch_pool, 64, 1)
    x = layers.Concatenate(axis=3, name="mixed_5b")([branch_0, branch_1, branch_2, branch_pool])
    x = _repeat(names, x, "block35")

    # Mixed 6a (Reduction-A block).
    branch_0 = _conv_bn(names, x, 384, 3, strides=2, padding="valid")
    branch_1 = _conv_bn(names, x, 256, 1)
    branch_1 = _conv_bn(names, branch_1, 256, 3)
    branch_1 = _conv_bn(names, branch_1, 384, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid", name=names("max_pooling2d"))(x)
    x = layers.Concatenate(axis=3, name="mixed_6a")([branch_0, branch_1, branch_pool])
    x = _repeat(names, x, "block17")

    # Mixed 7a (Reduction-B block).
    branch_0 = _conv_bn(names, x, 256, 1)
    branch_0 = _conv_bn(names, branch_0, 384, 3, strides=2, padding="valid")
    branch_1 = _conv_bn(names, x, 256, 1)
    branch_1 = _conv_bn(names, branch_1, 288, 3, strides=2, padding="valid")
    branch_2 = _conv_bn(names, x, 256, 1)
    branch_2 = _conv_bn(names, branch_2, 288, 3)
    branch_2 = _conv_bn(names, branch_2, 320, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid", name=names("max_pooling2d"))(x)
    x = layers.Concatenate(axis=3, name="mixed_7a")([branch_0, branch_1, branch_2, branch_pool])
    x = _repeat(names, x, "block8")
    return _conv_bn(names, x, 1536, 1, name="conv_7b")


def _repeat(names, x, block_type):
    _, scale, repeats = next(spec for spec in BLOCK_REPEATS if spec[0] == block_type)
    for block_idx in range(1, repeats + 1):
        last = block_type == "block8" and block_idx == repeats
        x = _residual_block(
            names, x, 1.0 if last else scale, block_type, block_idx, activation=None if last else "relu"
        )
    return x


SPEC = vision.ImageSpec(
    name="inception_resnet_v2",
    backbone=backbone,
    stages=tuple(vision.Stage(name, stride) for name, stride in STAGES),
    default_size=299,
    min_size=75,
    rename_weights=rename_auto_named,
)


def build(variant: str = "inception_resnet_v2", *, weights=None, **kwargs: Any):
    """Build Inception-ResNet-v2 (its only ``variant``) with the keras.applications signature.

    See :func:`hub_core.vision.build_model` for the arguments.
    """
    return vision.build_model(SPEC, weights=weights, **kwargs)


def blocks(model) -> list[list[str]]:
    """Weighted layers grouped into fine-tuning blocks, from input to output.

    Most layers are unnamed in keras.applications, so blocks are cut where the
    layers of :data:`BLOCK_ENDS` appear in the model's (topological) order:
    the stem, mixed_5b, each block35/17/8, the reductions, conv_7b, then the
    classifier.
    """
    groups: list[list[str]] = [[]]
    for layer in model.layers:
        if layer.weights:
            groups[-1].append(layer.name)
        if layer.name in BLOCK_ENDS and groups[-1]:
            groups.append([])
    return [group for group in groups if group]
