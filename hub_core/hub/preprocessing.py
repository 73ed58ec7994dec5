"""The declared preprocessing of a variant, applied to numpy batches (numpy only; no Keras unless a factory needs it).

``preprocess_input`` equals ``keras.applications.imagenet_utils.preprocess_input``
(without writing over the input) in its modes caffe, tf and torch, and adds
``unit`` (0..1) and ``none``; the same as a Keras layer is
:class:`hub_core.vision.layers.ImagePreprocessing`, which reads the constants
here. ``apply_preprocessing`` applies any declaration (a mode or a layer
factory, see :data:`hub_core.hub.spec.Preprocessing`); ``layer_factory``
imports a factory from its dotted path.
"""

from __future__ import annotations

import importlib
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
