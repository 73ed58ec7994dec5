"""Keras layers of the image models' shared machinery (imports Keras).

``hub_core.vision`` imports this module lazily, so plugin metadata stays
light. The layers use ``keras.ops`` only and serialise by name
(``package="hub_core"``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from hub_core import vision


@keras.saving.register_keras_serializable(package="hub_core")
class ImagePreprocessing(keras.layers.Layer):
    """``keras.applications`` input preprocessing as a layer (channels-last).

    Takes RGB values in 0..255 (any numeric dtype, e.g. raw uint8 images) and
    returns what :func:`hub_core.vision.preprocess_input` returns for the
    same ``mode``. Build it with ``dtype="float32"`` under mixed precision so
    the mean subtraction stays exact; the next layer casts to bfloat16.

    Args:
        mode: ``"caffe"``, ``"tf"`` or ``"torch"``.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, mode: str = "caffe", **kwargs: Any):
        super().__init__(**kwargs)
        if mode not in vision.MODES:
            raise ValueError(f"Unknown preprocessing mode '{mode}'; expected one of {', '.join(vision.MODES)}.")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = np.asarray(vision.TORCH_MEAN, "float32")
            std = np.asarray(vision.TORCH_STD, "float32")
            return (x / 255.0 - ops.cast(mean, x.dtype)) / ops.cast(std, x.dtype)
        return ops.flip(x, axis=-1) - ops.cast(np.asarray(vision.CAFFE_MEAN_BGR, "float32"), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}
