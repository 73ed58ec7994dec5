"""GoogLeNet input preprocessing: Caffe mode (RGB->BGR, minus the ImageNet mean)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hub_core import vision

MODE = "caffe"


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """Caffe-mode preprocessing of 0..255 RGB images, without writing over ``x``."""
    return vision.preprocess_input(x, mode=MODE, data_format=data_format)


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top ImageNet classes per image: ``(wnid, label, score)``."""
    return vision.decode_predictions(preds, top=top)
