"""The inception_resnet_v2 plugin: metadata and glue (the builder lives in ``model.py``)."""

from __future__ import annotations

from hub_core.hub.plugin import Paper, Variant
from hub_core.vision import ImageClassifierPlugin
from hub_plugins.inception_resnet_v2.weights import IMAGENET


class InceptionResNetV2Plugin(ImageClassifierPlugin):
    """Inception-ResNet-v2 (Szegedy et al.), layer for layer as keras.applications."""

    name = "inception_resnet_v2"
    description = "Inception-ResNet-v2: Inception blocks with scaled residual connections, keras.applications-compatible."
    license = "Apache-2.0"
    paper = Paper(
        title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
        url="https://arxiv.org/abs/1602.07261",
        authors="Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alex Alemi",
        year=2017,
    )
    default_variant = "inception_resnet_v2"
    variants = (
        Variant(
            name="inception_resnet_v2",
            input_shape=(299, 299, 3),
            num_params=55_873_736,
            weights=(IMAGENET,),
            default_weights="imagenet",
            description="Inception-ResNet-v2, 299x299 (75x75 at least), ImageNet",
            preprocessing="tf",  # scaled to -1..1
        ),
    )

    model_module = "hub_plugins.inception_resnet_v2.model"
    small_size = 75  # the smallest size Inception-ResNet-v2 accepts

    def blocks(self, model) -> list[list[str]]:
        """The stem, mixed_5b, each residual and reduction block, conv_7b, then the classifier."""
        return self._model().blocks(model)
