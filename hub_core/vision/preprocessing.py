"""Input preprocessing of the image models and their ImageNet predictions (numpy only).

``preprocess_input`` equals ``keras.applications.imagenet_utils.preprocess_input``
(without writing over the input) in its modes caffe, tf and torch, and adds
``unit`` (0..1) and ``none`` (the same as a Keras layer is
:class:`hub_core.vision.layers.ImagePreprocessing`, which reads the constants
here); ``apply_preprocessing`` applies any variant's declaration (a mode or a
layer factory); ``decode_predictions`` names the top classes from the ImageNet class index
shipped as ``hub_core/vision/imagenet_class_index.json``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import json
from typing import Any, Callable

import numpy as np

from hub_core.errors import InvalidArgumentError
from hub_core.hub.spec import PREPROCESSING_MODES as MODES
from hub_core.hub.spec import Preprocessing
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


def check_mode(mode: str) -> None:
    """Raise ``InvalidArgumentError`` unless ``mode`` is one of ``MODES``."""
    if mode not in MODES:
        raise InvalidArgumentError(f"Unknown preprocessing mode '{mode}'; expected one of {', '.join(MODES)}.")


def check_preprocessing(preprocessing: Preprocessing) -> None:
    """Raise ``InvalidArgumentError`` unless ``preprocessing`` is a mode, a callable or a dotted path."""
    if callable(preprocessing) or (isinstance(preprocessing, str) and "." in preprocessing.strip(".")):
        return
    check_mode(preprocessing)


def layer_factory(preprocessing: Preprocessing) -> Callable[[], Any] | None:
    """The layer factory of a declaration, imported from its dotted path; None for a mode.

    Raises:
        InvalidArgumentError: For an unknown mode, or a dotted path that does not import.
    """
    check_preprocessing(preprocessing)
    if callable(preprocessing):
        return preprocessing
    if preprocessing in MODES:
        return None
    module_name, _, attribute = preprocessing.replace(":", ".").rpartition(".")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise InvalidArgumentError(
            f"Preprocessing '{preprocessing}' does not import ({error}); declare a mode "
            f"({', '.join(MODES)}) or the dotted path of a function returning a Keras layer."
        ) from error
    if not callable(factory):
        raise InvalidArgumentError(f"Preprocessing '{preprocessing}' is not a function; it must return a Keras layer.")
    return factory


def apply_preprocessing(images: Any, preprocessing: Preprocessing) -> np.ndarray:
    """A declared preprocessing (mode or layer factory) applied to a numpy batch of 0..255 RGB pixels.

    Args:
        images: Array-like batch (or one image), channels last.
        preprocessing: A :data:`hub_core.hub.spec.Preprocessing` declaration.

    Returns:
        A new float array.
    """
    factory = layer_factory(preprocessing)
    if factory is None:
        return preprocess_input(images, preprocessing)
    return np.asarray(factory()(np.asarray(images, dtype="float32")))


def _check_data_format(data_format: str | None) -> str:
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise InvalidArgumentError(
            f"data_format must be 'channels_last' or 'channels_first', not '{data_format}'."
        )
    return data_format


def preprocess_input(x: Any, mode: str = "caffe", data_format: str | None = None) -> np.ndarray:
    """Preprocess a batch (or one image) of 0..255 RGB values like keras.applications.

    The result equals ``keras.applications.imagenet_utils.preprocess_input``
    for the same mode, but the input is never written over.

    Args:
        x: Array-like, 3D or 4D, RGB values in 0..255 (any dtype).
        mode: ``"caffe"`` (RGB->BGR, minus the ImageNet mean), ``"tf"``
            (scaled to -1..1), ``"torch"`` (0..1, then ImageNet mean/std),
            ``"unit"`` (scaled to 0..1) or ``"none"`` (a float copy).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        A new float array (float32 unless the input was another float type).

    Raises:
        InvalidArgumentError: For an unknown mode or data format.
    """
    check_mode(mode)
    data_format = _check_data_format(data_format)
    x = np.asarray(x)
    x = x.astype("float32") if not np.issubdtype(x.dtype, np.floating) else x.copy()
    axis = -1 if data_format == "channels_last" else (0 if x.ndim == 3 else 1)
    shape = [1] * x.ndim
    shape[axis] = 3
    if mode == "none":
        return x
    if mode == "unit":
        x /= 255.0
        return x
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        x -= np.asarray(TORCH_MEAN, x.dtype).reshape(shape)
        x /= np.asarray(TORCH_STD, x.dtype).reshape(shape)
        return x
    x = np.flip(x, axis=axis).copy()
    x -= np.asarray(CAFFE_MEAN_BGR, x.dtype).reshape(shape)
    return x


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
