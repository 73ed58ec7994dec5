"""The alexnet plugin: metadata and glue (the builder lives in ``model.py``)."""

from __future__ import annotations

from hub_core.hub.plugin import Paper, Variant
from hub_core.vision import ImageClassifierPlugin
from hub_plugins.alexnet.weights import BVLC


class AlexNetPlugin(ImageClassifierPlugin):
    """AlexNet (Krizhevsky et al. 2012): BVLC's Caffe model and torchvision's single tower."""

    name = "alexnet"
    description = "AlexNet: BVLC Caffe model with LRN and grouped convs, plus a single-tower variant."
    license = "Apache-2.0"
    paper = Paper(
        title="ImageNet Classification with Deep Convolutional Neural Networks",
        url="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
        authors="Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
        year=2012,
    )
    default_variant = "alexnet"
    variants = (
        Variant(
            name="alexnet",
            input_shape=(227, 227, 3),
            num_params=60_965_224,
            weights=(BVLC,),
            default_weights="bvlc",
            description="BVLC AlexNet: 227x227, LRN, conv2/4/5 in 2 groups, Caffe ceil-mode pools",
            options={"architecture": "bvlc"},
            preprocessing="caffe",  # BVLC's Caffe model: RGB->BGR minus the ImageNet mean
        ),
        Variant(
            name="alexnet_single_tower",
            input_shape=(224, 224, 3),
            num_params=61_100_840,
            description="torchvision's AlexNet: 64-192-384-256-256 filters, no groups, no LRN",
            options={"architecture": "single_tower"},
            preprocessing="torch",  # torchvision's: 0..1, then mean/std
        ),
    )

    model_module = "hub_plugins.alexnet.model"
    small_size = 63  # the smallest size whose pool5 is 1x1
