"""The googlenet plugin: metadata and glue (the builder lives in ``model.py``)."""

from __future__ import annotations

from typing import Any

from hub_core.plugin import ModelPlugin, Paper, Variant
from hub_plugins.googlenet import preprocessing
from hub_plugins.googlenet.weights import BVLC


class GoogLeNetPlugin(ModelPlugin):
    """GoogLeNet / Inception v1 (Szegedy et al. 2014), layer for layer as BVLC's Caffe model."""

    name = "googlenet"
    task = "image-classification"
    description = "GoogLeNet (Inception v1): BVLC Caffe layout, LRN, ceil-mode pools, optional aux classifiers."
    license = "Apache-2.0"
    paper = Paper(
        title="Going Deeper with Convolutions",
        url="https://arxiv.org/abs/1409.4842",
        authors="Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
        "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich",
        year=2015,
    )
    default_variant = "googlenet"
    capabilities = frozenset({"features", "preprocessing"})
    variants = (
        Variant(
            name="googlenet",
            input_shape=(224, 224, 3),
            num_params=6_998_552,
            weights=(BVLC,),
            description="Inception v1, 9 inception modules; aux classifiers with aux_logits=True",
        ),
    )

    def build(self, variant: Variant, *, weights=None, **kwargs: Any):
        """Build GoogLeNet; arguments as :func:`hub_core.vision.build_model` plus ``aux_logits``."""
        from hub_plugins.googlenet import model

        return model.build(weights=weights, **kwargs)

    def preprocess(self, images, variant: Variant | None = None):
        """Caffe-mode preprocessing of 0..255 RGB images (numpy)."""
        return preprocessing.preprocess_input(images)

    def blocks(self, model) -> list[list[str]]:
        """The stem convs, each inception module, then the classifiers."""
        from hub_core import vision
        from hub_plugins.googlenet.model import BLOCK_PREFIXES

        return vision.blocks(model, BLOCK_PREFIXES)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """32x32 RGB: pool4 is then 1x1."""
        return (32, 32, 3)
