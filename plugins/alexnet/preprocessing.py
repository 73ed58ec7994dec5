"""AlexNet input preprocessing.

``alexnet`` (BVLC, Caffe) takes Caffe mode: RGB->BGR minus the ImageNet mean.
``alexnet_single_tower`` (torchvision) takes torch mode: 0..1, then mean/std.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hub_core import vision

MODES = {"alexnet": "caffe", "alexnet_single_tower": "torch"}


def preprocess_input(x: Any, variant: str = "alexnet", data_format: str | None = None) -> np.ndarray:
    """Preprocess 0..255 RGB images for ``variant``, without writing over ``x``."""
    return vision.preprocess_input(x, mode=MODES[variant], data_format=data_format)


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top ImageNet classes per image: ``(wnid, label, score)``."""
    return vision.decode_predictions(preds, top=top)
