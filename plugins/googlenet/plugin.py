"""The googlenet plugin: metadata and glue (the builder lives in ``model.py``)."""

from __future__ import annotations

from hub_core.hub.plugin import Paper, Variant
from hub_core.vision import ImageClassifierPlugin
from hub_plugins.googlenet.weights import BVLC


class GoogLeNetPlugin(ImageClassifierPlugin):
    """GoogLeNet / Inception v1 (Szegedy et al. 2014), layer for layer as BVLC's Caffe model."""

    name = "googlenet"
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
            preprocessing="caffe",  # RGB->BGR, minus the ImageNet mean
        ),
    )

    model_module = "hub_plugins.googlenet.model"
    small_size = 32  # pool4 is then 1x1
