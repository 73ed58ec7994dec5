"""The resnet plugin: metadata and glue (the builders live in ``model.py``)."""

from __future__ import annotations

from hub_core.hub.plugin import Paper, Variant
from hub_core.vision import ImageClassifierPlugin
from hub_plugins.resnet.weights import imagenet

# name -> (parameter count with the 1000-class top, layers).
_IMAGENET = {"resnet50": (25_636_712, 50), "resnet101": (44_707_176, 101), "resnet152": (60_419_944, 152)}
# name -> parameter count with the 10-class top and identity shortcuts.
_CIFAR = {"resnet20": 271_786, "resnet32": 467_562, "resnet56": 859_114, "resnet110": 1_740_106}


class ResNetPlugin(ImageClassifierPlugin):
    """Residual networks: ResNet v1 for ImageNet and pre-activation ResNets for CIFAR."""

    name = "resnet"
    description = "ResNet-50/101/152 v1 (keras.applications-compatible) and CIFAR pre-activation ResNet-20/32/56/110."
    license = "Apache-2.0"
    paper = Paper(
        title="Deep Residual Learning for Image Recognition",
        url="https://arxiv.org/abs/1512.03385",
        authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
        year=2016,
    )
    default_variant = "resnet50"
    variants = tuple(
        Variant(
            name=name,
            input_shape=(224, 224, 3),
            num_params=params,
            weights=(imagenet(name),),
            default_weights="imagenet",
            description=f"ResNet-{layers} v1, bottleneck blocks, ImageNet 224x224",
            preprocessing="caffe",  # RGB->BGR, minus the ImageNet mean
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
            # Caffe mode for the CIFAR variants too: tflearn's example zero-centres each channel, and Caffe mode
            # does that with the ImageNet channel means.
            preprocessing="caffe",
        )
        for name, params in _CIFAR.items()
    )

    model_module = "hub_plugins.resnet.model"
    small_size = 32  # the smallest size ResNet accepts, and the CIFAR size
