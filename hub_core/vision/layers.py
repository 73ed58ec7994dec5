"""Keras layers of the image models' shared machinery (imports Keras).

``ImagePreprocessing`` is the preprocessing baked into a model;
``FoldableConv2D`` and ``FoldableBatchNormalization`` are drop-in
``Conv2D``/``BatchNormalization`` that fold into one convolution at inference
time (``set_batchnorm_folding``). ``hub_core.vision`` imports this module
lazily, so plugin metadata stays light. The layers use ``keras.ops`` only and serialise by name
(``package="hub_core"``).
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np
from keras import ops

from hub_core.vision.preprocessing import CAFFE_MEAN_BGR, MODES, TORCH_MEAN, TORCH_STD
from hub_core._keras_compat import producing_layer


@keras.saving.register_keras_serializable(package="hub_core")
class ImagePreprocessing(keras.layers.Layer):
    """``keras.applications`` input preprocessing as a layer (channels-last).

    Takes RGB values in 0..255 (any numeric dtype, e.g. raw uint8 images) and
    returns what :func:`hub_core.vision.preprocessing.preprocess_input` returns for the
    same ``mode``. Build it with ``dtype="float32"`` under mixed precision so
    the mean subtraction stays exact; the next layer casts to bfloat16.

    Args:
        mode: One of :data:`~hub_core.vision.preprocessing.MODES`.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, mode: str = "caffe", **kwargs: Any):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown preprocessing mode '{mode}'; expected one of {', '.join(MODES)}.")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "none":
            return x
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = np.asarray(TORCH_MEAN, "float32")
            std = np.asarray(TORCH_STD, "float32")
            return (x / 255.0 - ops.cast(mean, x.dtype)) / ops.cast(std, x.dtype)
        return ops.flip(x, axis=-1) - ops.cast(np.asarray(CAFFE_MEAN_BGR, "float32"), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="hub_core")
class FoldableConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` that can take in the BatchNormalization after it.

    Same weights, names and training behaviour as ``Conv2D``. When a
    :class:`FoldableBatchNormalization` with ``fold=True`` is called on this
    layer's output and that normalization runs in inference mode, this layer
    convolves with the folded kernel ``kernel * scale`` and adds the folded
    bias, and the normalization passes its input through: one convolution
    instead of a convolution and a separate (float32, under mixed precision)
    normalization pass. The output must feed only that normalization.
    """

    _batch_norm = staticmethod(lambda: None)  # weak reference to the normalization called on the output

    def call(self, inputs, training=None):
        batch_norm = self._batch_norm()
        if batch_norm is None or not batch_norm.folds(training):
            return super().call(inputs)
        kernel, bias = batch_norm.fold(self.kernel, self.bias if self.use_bias else None)
        outputs = ops.add(self.convolution_op(inputs, ops.cast(kernel, self.compute_dtype)),
                          ops.cast(bias, self.compute_dtype))
        return self.activation(outputs)


@keras.saving.register_keras_serializable(package="hub_core")
class FoldableBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that can be folded into the convolution before it.

    Called on the output of a linear, channels-last :class:`FoldableConv2D`, it
    links itself to that layer. With ``fold=True`` its inference transform
    (moving statistics, ``gamma``, ``beta``) is applied inside the
    convolution's kernel and bias, and this layer returns its input; in
    training mode with trainable statistics both layers behave as the stock
    ones. Weights, names and the weight order are those of
    ``BatchNormalization``, so published weight files load unchanged.

    Args:
        fold: Fold into the convolution in inference mode.
        **kwargs: ``keras.layers.BatchNormalization`` arguments.
    """

    def __init__(self, fold: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.fold_enabled = bool(fold)
        self._conv = lambda: None  # weak reference to the linked convolution (not a tracked sub-layer)

    def __call__(self, inputs, *args, **kwargs):
        producer = producing_layer(inputs)
        if isinstance(producer, FoldableConv2D) and self._foldable_after(producer):
            producer._batch_norm, self._conv = weakref.ref(self), weakref.ref(producer)
        return super().__call__(inputs, *args, **kwargs)

    def _foldable_after(self, conv) -> bool:
        linear = conv.activation in (None, keras.activations.linear)
        channel_axis = self.axis in (-1, conv.rank + 1)
        return linear and conv.data_format == "channels_last" and channel_axis

    def folds(self, training) -> bool:
        """Whether a call with this ``training`` flag is folded into the convolution."""
        return self.fold_enabled and self._conv() is not None and not (training and self.trainable)

    def fold(self, kernel, bias):
        """The convolution's ``kernel`` and ``bias`` (or None) with this normalization applied, in float32."""
        scale = ops.rsqrt(ops.cast(self.moving_variance, "float32") + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, "float32")
        shift = -ops.cast(self.moving_mean, "float32") * scale
        if bias is not None:
            shift = shift + ops.cast(bias, "float32") * scale
        if self.center:
            shift = shift + ops.cast(self.beta, "float32")
        return ops.cast(kernel, "float32") * scale, shift

    def call(self, inputs, training=None, mask=None):
        if self.folds(training):
            return inputs
        return super().call(inputs, training=training, mask=mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fold": self.fold_enabled}


def set_batchnorm_folding(model, fold: bool = True) -> int:
    """Turn folding on or off for every linked :class:`FoldableBatchNormalization` in ``model``.

    The model's compiled predict, test and train functions are dropped, so
    the next call traces the new computation.

    Returns:
        How many normalizations fold into their convolution.
    """
    linked = [layer for layer in _all_layers(model) if isinstance(layer, FoldableBatchNormalization) and layer._conv()]
    for layer in linked:
        layer.fold_enabled = bool(fold)
    model.predict_function = model.test_function = model.train_function = None
    return len(linked) if fold else 0


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
