"""The nin plugin: metadata only; the network lives in ``model.py``."""

from __future__ import annotations

from hub_core.hub.plugin import Paper, Variant
from hub_core.vision import ImageClassifierPlugin


class NINPlugin(ImageClassifierPlugin):
    """Network in Network: mlpconv blocks and a global-average-pooled 1x1-convolution classifier."""

    name = "nin"
    description = "Network in Network: mlpconv blocks, 1x1-conv classifier and global average pooling, no Dense layer."
    license = "Apache-2.0"
    paper = Paper(
        title="Network In Network",
        url="https://arxiv.org/abs/1312.4400",
        authors="Min Lin, Qiang Chen, Shuicheng Yan",
        year=2014,
    )
    default_variant = "nin_cifar"
    model_module = "hub_plugins.nin.model"
    small_size = 32
    variants = (
        Variant(
            name="nin_cifar",
            input_shape=(32, 32, 3),
            num_params=972_618,
            description="NIN for CIFAR-10, 32x32: 192-160-96, 192-192-192, 192-192-10 mlpconv, "
            "BatchNorm after each conv; no pretrained weights (random init)",
            preprocessing="unit",  # 0..1
        ),
    )

    def search_space(self, variant: Variant) -> dict[str, str]:
        """The dropout before the classifier (the builder's ``dropout``), besides the default space."""
        return {"dropout": "uniform:0.0:0.5"}
