"""Inception-ResNet-v2 input preprocessing: tf mode (scaled to -1..1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hub_core import vision
from hub_core.vision import decode_predictions

MODE = "tf"
__all__ = ["MODE", "decode_predictions", "preprocess_input"]


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """``keras.applications.inception_resnet_v2.preprocess_input``, without writing over ``x``."""
    return vision.preprocess_input(x, mode=MODE, data_format=data_format)
