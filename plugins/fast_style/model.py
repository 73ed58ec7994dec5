"""The image transformation network of Johnson et al. (2016), in plain Keras 3.

Layout (channels-last, ``width`` = 32 by default; ``filters`` = ``(d2, d3, u1, u2)``,
by default ``(2*width, 4*width, 2*width, width)``)::

    reflect-pad to a multiple of 4
    conv 9x9 / width          + norm + relu
    conv 3x3 / d2, s2         + norm + relu
    conv 3x3 / d3, s2         + norm + relu
    5 x residual block of d3  (conv 3x3, norm, relu, conv 3x3, norm, + input)
    upsample x2 to u1         + norm + relu   (nearest resize + conv 3x3, or transposed conv)
    upsample x2 to u2         + norm + relu
    conv 9x9 / 3
    127.5 * (tanh + 1), cropped back to the input size

Every convolution pads by reflection, so there are no dark borders, and the
network is fully convolutional: any image size gives an output of the same
size. Instance normalisation (Ulyanov et al., 2016) is the default; batch
normalisation is the option the seed notes used, with poor results.
Inputs and outputs are RGB pixels in [0, 255].
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import layers, ops

NORMS = ("instance", "batch")
UPSAMPLING = ("resize", "transpose")
MULTIPLE = 4  # two stride-2 convolutions
FEW_FILTERS = 8  # convolutions with fewer filters run as DepthToSpaceConv2D


@keras.saving.register_keras_serializable(package="hub_fast_style")
class InstanceNormalization(layers.Layer):
    """Normalise each channel of each image over its spatial positions.

    ``y = gamma * (x - mean_hw(x)) / sqrt(var_hw(x) + epsilon) + beta``, with the
    statistics computed per sample and channel in float32 (Ulyanov et al., 2016).

    Args:
        epsilon: Added to the variance.
        center: Learn the offset ``beta``.
        scale: Learn the scale ``gamma``.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, epsilon: float = 1e-5, center: bool = True, scale: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta") if self.center else None

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
        # Folded into one scale and offset per sample and channel, so the image is read once more, not four times.
        scale = ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            scale = scale * ops.cast(self.gamma, "float32")
        offset = -mean * scale
        if self.beta is not None:
            offset = offset + ops.cast(self.beta, "float32")
        return ops.cast(x * scale + offset, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


@keras.saving.register_keras_serializable(package="hub_fast_style")
class ReflectionPadding2D(layers.Layer):
    """Pad height and width by mirroring the image (without repeating the edge).

    Args:
        padding: ``(top, bottom, left, right)`` or one int for all four sides.
        multiple: When set, instead pad bottom and right just enough to make
            height and width multiples of it (``padding`` is then ignored).
        **kwargs: Standard layer arguments.
    """

    def __init__(self, padding: int | tuple[int, int, int, int] = 1, multiple: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.padding = (padding,) * 4 if isinstance(padding, int) else tuple(int(p) for p in padding)
        self.multiple = multiple

    def _pads(self, height, width):
        if self.multiple:
            return 0, (-height) % self.multiple, 0, (-width) % self.multiple
        return self.padding

    def call(self, inputs):
        shape = ops.shape(inputs)
        top, bottom, left, right = self._pads(shape[1], shape[2])
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        if self.multiple:
            grow = lambda size: None if size is None else size + (-size) % self.multiple  # noqa: E731
            return batch, grow(height), grow(width), channels
        top, bottom, left, right = self.padding
        height = None if height is None else height + top + bottom
        width = None if width is None else width + left + right
        return batch, height, width, channels

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": list(self.padding), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="hub_fast_style")
class CropToReference(layers.Layer):
    """Crop the first input to the height and width of the second (top-left corner)."""

    def call(self, inputs):
        image, reference = inputs
        shape = ops.shape(reference)
        return image[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        image_shape, reference_shape = input_shapes
        return (image_shape[0], reference_shape[1], reference_shape[2], image_shape[3])


@keras.saving.register_keras_serializable(package="hub_fast_style")
class PixelTanh(layers.Layer):
    """``127.5 * (tanh(x) + 1)``: squash to the pixel range [0, 255]."""

    def call(self, inputs):
        return 127.5 * (ops.tanh(inputs) + 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="hub_fast_style")
class DepthToSpaceConv2D(layers.Conv2D):
    """A stride-1 ``"valid"`` ``Conv2D`` with few filters, computed ``block x block`` output pixels at a time.

    The same layer, kernel and bias as ``Conv2D``; only the execution differs. CPU convolution kernels work on
    blocks of 8 or 16 channels, so a convolution with 3 filters costs as much as one with 16 (fast_style's
    9x9 output convolution took a third of the network's time). Here one convolution with stride ``block``
    computes every ``block x block`` patch of the output at once: its kernel is the original one shifted to
    each position of the patch (``kernel_size + block - 1`` taps, zeros around; ``block**2`` times the
    filters), and a depth-to-space rearrangement puts the patches in place.

    The input's height and width less ``kernel_size - 1`` must be multiples of ``block`` (``transform_net`` pads
    its input to a multiple of 4).

    Args:
        filters: As ``Conv2D``.
        kernel_size: As ``Conv2D`` (square).
        block: Side of the output patches computed at once.
        **kwargs: ``Conv2D``'s other arguments (``strides`` 1 and ``padding="valid"`` only).
    """

    def __init__(self, filters: int, kernel_size: int, *, block: int = 2, **kwargs: Any):
        super().__init__(filters, kernel_size, **kwargs)
        self.block = int(block)
        if (self.strides != (1, 1) or self.padding != "valid" or self.dilation_rate != (1, 1) or self.groups != 1
                or self.kernel_size[0] != self.kernel_size[1] or self.data_format != "channels_last"):
            raise ValueError("DepthToSpaceConv2D runs square channels-last stride-1 'valid' convolutions; "
                             f"got {self.get_config()}.")

    def _patch_kernel(self):
        """``(k + block - 1, k + block - 1, in, block**2 * filters)``: the kernel at each patch position (u, v)."""
        last = self.block - 1
        return ops.concatenate([ops.pad(self.kernel, [[u, last - u], [v, last - v], [0, 0], [0, 0]])
                                for u in range(self.block) for v in range(self.block)], axis=-1)

    def call(self, inputs):
        r = self.block
        y = ops.conv(inputs, self._patch_kernel(), strides=r, padding="valid")
        shape = ops.shape(y)
        rows, columns = shape[1], shape[2]
        y = ops.reshape(y, (-1, rows, columns, r, r, self.filters))
        y = ops.reshape(ops.transpose(y, (0, 1, 3, 2, 4, 5)), (-1, rows * r, columns * r, self.filters))
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "block": self.block}


def _norm(kind: str, name: str):
    if kind == "instance":
        return InstanceNormalization(name=f"{name}_in")
    return layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")


def _conv(x, filters: int, kernel: int, *, strides: int = 1, norm: str | None, relu: bool, name: str):
    """Reflect-pad, convolve, normalise, activate."""
    pad = kernel // 2
    x = ReflectionPadding2D(pad, name=f"{name}_pad")(x)
    # A convolution with few filters computes 2x2 output pixels at a time (the same weights: DepthToSpaceConv2D).
    conv = DepthToSpaceConv2D if filters < FEW_FILTERS and strides == 1 else layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding="valid", use_bias=norm is None, name=f"{name}_conv")(x)
    if norm is not None:
        x = _norm(norm, name)(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _residual_block(x, filters: int, norm: str, name: str):
    shortcut = x
    x = _conv(x, filters, 3, norm=norm, relu=True, name=f"{name}_a")
    x = _conv(x, filters, 3, norm=norm, relu=False, name=f"{name}_b")
    return layers.Add(name=f"{name}_add")([shortcut, x])


def _upsample(x, filters: int, method: str, norm: str, name: str):
    if method == "resize":
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
        return _conv(x, filters, 3, norm=norm, relu=True, name=name)
    x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_deconv")(x)
    x = _norm(norm, name)(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def default_filters(width: int) -> tuple[int, int, int, int]:
    """Johnson's channels after the first convolution: ``(2*width, 4*width, 2*width, width)``."""
    return 2 * width, 4 * width, 2 * width, width


def transform_net(
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    *,
    norm: str = "instance",
    upsampling: str = "resize",
    width: int = 32,
    residual_blocks: int = 5,
    filters: Sequence[int] | None = None,
    name: str = "fast_style",
) -> keras.Model:
    """Build the style transformation network.

    Args:
        input_shape: ``(height, width, 3)``; ``None`` sizes accept any image.
        norm: ``"instance"`` (default) or ``"batch"``.
        upsampling: ``"resize"`` (nearest resize + conv, no checkerboard) or
            ``"transpose"`` (strided transposed convolution).
        width: Filters of the first convolution; the next stages use 2x and 4x.
        residual_blocks: Number of residual blocks (of ``filters[1]`` channels).
        filters: Channels of the second and third convolutions and of the two
            upsamplings; None is Johnson's ``(2*width, 4*width, 2*width, width)``.
        name: Model name.

    Returns:
        A ``keras.Model`` mapping RGB pixels in [0, 255] to stylised RGB pixels
        in [0, 255] of the same height and width.

    Raises:
        ValueError: For an unknown ``norm`` or ``upsampling``, or a bad shape.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}.")
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}.")
    if int(width) < 1 or int(residual_blocks) < 0:
        raise ValueError(f"width must be >= 1 and residual_blocks >= 0, got {width} and {residual_blocks}.")
    down2, down3, up1, up2 = default_filters(width) if filters is None else tuple(int(f) for f in filters)
    if min(down2, down3, up1, up2) < 1:
        raise ValueError(f"filters must be four channel counts >= 1, got {filters}.")
    images = keras.Input(shape=tuple(input_shape), name="images")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(images)
    x = ReflectionPadding2D(multiple=MULTIPLE, name="pad_to_multiple")(x)
    x = _conv(x, width, 9, norm=norm, relu=True, name="down1")
    x = _conv(x, down2, 3, strides=2, norm=norm, relu=True, name="down2")
    x = _conv(x, down3, 3, strides=2, norm=norm, relu=True, name="down3")
    for index in range(1, residual_blocks + 1):
        x = _residual_block(x, down3, norm, name=f"res{index}")
    x = _upsample(x, up1, upsampling, norm, name="up1")
    x = _upsample(x, up2, upsampling, norm, name="up2")
    x = _conv(x, 3, 9, norm=None, relu=False, name="out")
    x = PixelTanh(name="to_pixels")(x)
    outputs = CropToReference(name="crop")([x, images])
    return keras.Model(images, outputs, name=name)
