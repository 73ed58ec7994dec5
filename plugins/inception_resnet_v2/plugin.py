"""The inception_resnet_v2 plugin: metadata and glue (the builder lives in ``model.py``)."""

from __future__ import annotations

from typing import Any

from hub_core.plugin import ModelPlugin, Paper, Variant
from hub_plugins.inception_resnet_v2 import preprocessing
from hub_plugins.inception_resnet_v2.weights import IMAGENET


class InceptionResNetV2Plugin(ModelPlugin):
    """Inception-ResNet-v2 (Szegedy et al.), layer for layer as keras.applications."""

    name = "inception_resnet_v2"
    task = "image-classification"
    description = "Inception-ResNet-v2: Inception blocks with scaled residual connections, keras.applications-compatible."
    license = "Apache-2.0"
    paper = Paper(
        title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
        url="https://arxiv.org/abs/1602.07261",
        authors="Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alex Alemi",
        year=2017,
    )
    default_variant = "inception_resnet_v2"
    capabilities = frozenset({"features", "preprocessing", "pretrained"})
    variants = (
        Variant(
            name="inception_resnet_v2",
            input_shape=(299, 299, 3),
            num_params=55_873_736,
            weights=(IMAGENET,),
            default_weights="imagenet",
            description="Inception-ResNet-v2, 299x299 (75x75 at least), ImageNet",
        ),
    )

    def build(self, variant: Variant, *, weights=None, **kwargs: Any):
        """Build Inception-ResNet-v2; arguments as :func:`hub_core.vision.build_model`."""
        from hub_plugins.inception_resnet_v2 import model

        return model.build(weights=weights, **kwargs)

    def preprocess(self, images, variant: Variant | None = None):
        """tf-mode preprocessing of 0..255 RGB images (numpy): scaled to -1..1."""
        return preprocessing.preprocess_input(images)

    def blocks(self, model) -> list[list[str]]:
        """The stem, mixed_5b, each residual and reduction block, conv_7b, then the classifier."""
        from hub_plugins.inception_resnet_v2.model import blocks

        return blocks(model)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """75x75 RGB, the smallest size Inception-ResNet-v2 accepts."""
        return (75, 75, 3)
