"""ResNet input preprocessing: Caffe mode (RGB->BGR, minus the ImageNet mean).

The CIFAR variants use the same mode: tflearn's example zero-centres each
channel, and Caffe mode does that with the ImageNet channel means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hub_core import vision
from hub_core.vision import decode_predictions

MODE = "caffe"
__all__ = ["MODE", "decode_predictions", "preprocess_input"]


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """``keras.applications.resnet.preprocess_input``, without writing over ``x``."""
    return vision.preprocess_input(x, mode=MODE, data_format=data_format)
