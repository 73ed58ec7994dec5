"""ImageNet predictions of the image models, and the preprocessing functions (numpy only).

The preprocessing (``preprocess_input``, ``apply_preprocessing``, ``MODES`` and
the constants) lives in :mod:`hub_core.hub.preprocessing`, part of the plugin
contract, and is importable from here too; ``decode_predictions`` names the top
classes from the ImageNet class index shipped as
``hub_core/vision/imagenet_class_index.json``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

import numpy as np

from hub_core.errors import InvalidArgumentError
from hub_core.hub.preprocessing import (  # noqa: F401  (re-exported)
    CAFFE_MEAN_BGR,
    MODES,
    TORCH_MEAN,
    TORCH_STD,
    apply_preprocessing,
    check_mode,
    check_preprocessing,
    layer_factory,
    preprocess_input,
)


@functools.lru_cache(maxsize=1)
def imagenet_class_index() -> dict[int, tuple[str, str]]:
    """``{index: (wnid, label)}`` for the 1000 ImageNet classes (shipped file)."""
    text = importlib.resources.files("hub_core.vision").joinpath("imagenet_class_index.json").read_text("utf-8")
    return {int(k): (v[0], v[1]) for k, v in json.loads(text).items()}


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top ImageNet classes of a batch of predictions.

    Args:
        preds: Array or tensor of shape ``(batch, 1000)``.
        top: How many classes to return per image.

    Returns:
        One list per image of ``(wnid, label, score)``, best first.

    Raises:
        InvalidArgumentError: When ``preds`` is not ``(batch, 1000)``.
    """
    preds = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise InvalidArgumentError(
            f"decode_predictions expects ImageNet predictions of shape (batch, 1000), got {preds.shape}."
        )
    index = imagenet_class_index()
    results = []
    for pred in preds:
        best = pred.argsort()[-top:][::-1]
        results.append(sorted(((*index[int(i)], float(pred[i])) for i in best), key=lambda r: r[2], reverse=True))
    return results
