"""Keras layers shared by the Caffe-era networks (AlexNet, GoogLeNet): LRN, ceil-mode pooling, grouped conv.

Written with ``keras.ops`` only, so they run on every Keras 3 backend and
serialise by name (``package="hub_core"``). Keras is imported when this
module is imported: import it from builders, never from plugin metadata.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hub_core")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (channels-last).

    Same semantics and defaults as ``tf.nn.local_response_normalization``::

        sqr_sum[..., d] = sum(x[..., d - depth_radius : d + depth_radius + 1] ** 2)
        output = x / (bias + alpha * sqr_sum) ** beta

    Caffe's ``LRN`` layer with ``local_size=n`` and ``alpha=a`` is
    ``depth_radius=(n - 1) // 2`` and ``alpha=a / n`` here. The sum is computed
    in float32 whatever the compute dtype, so bfloat16/float16 squares neither
    overflow nor lose the small ``alpha`` term.

    Args:
        depth_radius: Half-width of the channel window.
        bias: Additive constant (Caffe's ``k``).
        alpha: Scale of the sum of squares.
        beta: Exponent.
        **kwargs: Standard layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0, beta: float = 0.5, **kwargs: Any):
        super().__init__(**kwargs)
        if int(depth_radius) < 0:
            raise ValueError(f"depth_radius must be >= 0, got {depth_radius}.")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        squares = ops.square(x)
        channels = squares.shape[-1]
        radius = self.depth_radius
        padded = ops.pad(squares, [[0, 0]] * (len(squares.shape) - 1) + [[radius, radius]])
        window = padded[..., 0:channels]
        for offset in range(1, 2 * radius + 1):
            window = window + padded[..., offset : offset + channels]
        scale = ops.power(self.bias + self.alpha * window, -self.beta)
        return ops.cast(x * scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config


def caffe_pool_output_size(size: int, pool_size: int, strides: int) -> int:
    """Output length of a Caffe pooling layer without padding (ceil mode).

    Caffe rounds ``(size - pool_size) / strides`` up where Keras rounds down,
    so a 112-pixel map pooled 3x3/2 gives 56 in Caffe and 55 in Keras.
    """
    return -(-(size - pool_size) // strides) + 1


@keras.saving.register_keras_serializable(package="hub_core")
class CaffeMaxPooling2D(keras.layers.Layer):
    """Max pooling with Caffe's ceil-mode output size (channels-last, no Caffe ``pad``).

    Padding ``strides - 1`` rows and columns of ``-inf`` at the bottom and
    right, then pooling without padding, gives exactly
    ``ceil((size - pool_size) / strides) + 1`` outputs, for any input size. The
    padded cells never win a max, so the values are Caffe's too. Requires
    ``pool_size >= strides`` (every window then starts inside the image, so
    Caffe's clipping rule never applies).

    Args:
        pool_size: Window size (an int: square windows).
        strides: Step (an int).
        **kwargs: Standard layer arguments.
    """

    def __init__(self, pool_size: int = 3, strides: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        if not 1 <= int(strides) <= int(pool_size):
            raise ValueError(f"CaffeMaxPooling2D needs 1 <= strides <= pool_size, got pool_size={pool_size}, strides={strides}.")
        self.pool_size = int(pool_size)
        self.strides = int(strides)

    def call(self, inputs):
        extra = self.strides - 1
        padded = ops.pad(inputs, [[0, 0], [0, extra], [0, extra], [0, 0]], constant_values=float("-inf"))
        return ops.max_pool(padded, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        height, width = (None if n is None else caffe_pool_output_size(n, self.pool_size, self.strides) for n in (height, width))
        return (batch, height, width, channels)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="hub_core")
class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D`` whose channel groups run as separate convolutions.

    Same arguments, weights and kernel layout ``(kh, kw, in / groups, out)`` as
    ``keras.layers.Conv2D(groups=...)``, so weight files are interchangeable.
    Keras' TensorFlow backend runs ``groups > 1`` through XLA on the CPU,
    which is about 3x slower than oneDNN in bfloat16; splitting the input and
    the kernel, convolving each group and concatenating avoids that.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        axis = -1 if self.data_format == "channels_last" else 1
        outputs = []
        for x, k in zip(ops.split(inputs, self.groups, axis=axis), ops.split(kernel, self.groups, axis=-1)):
            outputs.append(super().convolution_op(x, k))
        return ops.concatenate(outputs, axis=axis)
