"""The resnet plugin: metadata and glue (the builders live in ``model.py``)."""

from __future__ import annotations

from typing import Any

from hub_core.plugin import ModelPlugin, Paper, Variant
from hub_plugins.resnet import preprocessing
from hub_plugins.resnet.weights import imagenet

# name -> (parameter count with the 1000-class top, layers).
_IMAGENET = {"resnet50": (25_636_712, 50), "resnet101": (44_707_176, 101), "resnet152": (60_419_944, 152)}
# name -> parameter count with the 10-class top and identity shortcuts.
_CIFAR = {"resnet20": 271_786, "resnet32": 467_562, "resnet56": 859_114, "resnet110": 1_740_106}


class ResNetPlugin(ModelPlugin):
    """Residual networks: ResNet v1 for ImageNet and pre-activation ResNets for CIFAR."""

    name = "resnet"
    task = "image-classification"
    description = "ResNet-50/101/152 v1 (keras.applications-compatible) and CIFAR pre-activation ResNet-20/32/56/110."
    license = "Apache-2.0"
    paper = Paper(
        title="Deep Residual Learning for Image Recognition",
        url="https://arxiv.org/abs/1512.03385",
        authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
        year=2016,
    )
    default_variant = "resnet50"
    capabilities = frozenset({"features", "preprocessing", "pretrained"})
    variants = tuple(
        Variant(
            name=name,
            input_shape=(224, 224, 3),
            num_params=params,
            weights=(imagenet(name),),
            default_weights="imagenet",
            description=f"ResNet-{layers} v1, bottleneck blocks, ImageNet 224x224",
        )
        for name, (params, layers) in _IMAGENET.items()
    ) + tuple(
        Variant(
            name=name,
            input_shape=(32, 32, 3),
            num_params=params,
            description=(
                f"CIFAR pre-activation ResNet-{name[6:]} (6n+2, n={(int(name[6:]) - 2) // 6}), 32x32, "
                "identity (zero-padded) or projection shortcuts; random init"
            ),
            options={"shortcut": "identity", "weight_decay": 1e-4},
        )
        for name, params in _CIFAR.items()
    )

    def build(self, variant: Variant, *, weights=None, **kwargs: Any):
        """Build a ResNet; arguments as :func:`hub_core.vision.build_model`.

        CIFAR variants also take ``shortcut="identity"|"projection"`` and
        ``weight_decay`` and default to 10 classes.
        """
        from hub_plugins.resnet import model

        return model.build(variant.name, weights=weights, **kwargs)

    def preprocess(self, images, variant: Variant | None = None):
        """Caffe-mode preprocessing of 0..255 RGB images (numpy)."""
        return preprocessing.preprocess_input(images)

    def blocks(self, model) -> list[list[str]]:
        """The stem, each stage (conv2..conv5, or stage1..stage3 and the final BN), then the classifier."""
        from hub_core import vision
        from hub_plugins.resnet.model import BLOCK_PREFIXES

        return vision.blocks(model, BLOCK_PREFIXES)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """32x32 RGB: the smallest size ResNet accepts (and the CIFAR size)."""
        return (32, 32, 3)
