"""The vgg16 plugin: metadata and glue (the builder lives in ``model.py``)."""

from __future__ import annotations

from typing import Any

from hub_core.plugin import ModelPlugin, Paper, Variant
from hub_plugins.vgg16 import preprocessing
from hub_plugins.vgg16.weights import HED_BSDS500, IMAGENET


class VGG16Plugin(ModelPlugin):
    """VGG16 and VGG19 (Simonyan & Zisserman), layer for layer as keras.applications."""

    name = "vgg16"
    task = "image-classification"
    description = "VGG16/VGG19: very deep 3x3 convnets, keras.applications-compatible."
    license = "Apache-2.0"
    paper = Paper(
        title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
        url="https://arxiv.org/abs/1409.1556",
        authors="Karen Simonyan, Andrew Zisserman",
        year=2015,
    )
    default_variant = "vgg16"
    capabilities = frozenset({"features", "preprocessing", "pretrained"})
    variants = (
        Variant(
            name="vgg16",
            input_shape=(224, 224, 3),
            num_params=138_357_544,
            weights=(IMAGENET["vgg16"], HED_BSDS500),
            default_weights="imagenet",
            description="VGG16, 13 conv + 3 fc layers",
        ),
        Variant(
            name="vgg19",
            input_shape=(224, 224, 3),
            num_params=143_667_240,
            weights=(IMAGENET["vgg19"],),
            default_weights="imagenet",
            description="VGG19, 16 conv + 3 fc layers",
        ),
    )

    def build(self, variant: Variant, *, weights=None, **kwargs: Any):
        """Build VGG16/19; arguments as :func:`hub_core.vision.build_model`."""
        from hub_plugins.vgg16 import model

        return model.build(variant.name, weights=weights, **kwargs)

    def preprocess(self, images, variant: Variant | None = None):
        """Caffe-mode preprocessing of 0..255 RGB images (numpy)."""
        return preprocessing.preprocess_input(images)

    def blocks(self, model) -> list[list[str]]:
        """block1..block5, the fc layers, then the classifier."""
        from hub_core import vision
        from hub_plugins.vgg16.model import BLOCK_PREFIXES

        return vision.blocks(model, BLOCK_PREFIXES)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """32x32 RGB, the smallest size VGG accepts."""
        return (32, 32, 3)
