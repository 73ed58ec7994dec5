"""The inverted-character captcha net: a small CNN trunk, one feature vector per character cell, 10 binary heads.

The notes' network ends in 10 two-way classifiers over one shared trunk,
trained on the sum of their losses. Here the trunk is three 3x3 convolution
stages of 8, 32 and 64 filters (BatchNorm, ReLU, 2x2 max pooling after the
first two); a convolution whose kernel and stride are one character cell
(``cells``) turns the map into one vector per position, shared weights across
positions; ``context`` (a width-3 convolution along the row, added to the
cell's own vector) lets each position see its neighbours' cells too; and
``heads`` holds the 10 heads, each its own weights over its own cell (one
``EinsumDense``), ending in a sigmoid: output ``(batch, 10)``, the probability
that each character is inverted. Pixels in 0..255 are rescaled inside the model.

``both_ways`` (the default) uses the task's symmetry: the row turned by 180
degrees is another captcha, whose character ``9 - i`` is character ``i`` the
other way up. The same layers read the row both ways up, and each head's logit
is the mean of its own and the negated logit of its mirror position
(:class:`BothWaysUp`), so the prediction for the turned row is exactly the
flipped, negated prediction for the row. It has no weights of its own: the
weights files are the same with and without it.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from hub_core.training.tasks import ExactMatch, Task

PACKAGE = "hub_captcha"
FILTERS = (8, 32, 64)
CELL_FEATURES = 128


@keras.saving.register_keras_serializable(package=PACKAGE)
class HeadAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy of one binary head (column ``head`` of a ``(batch, heads)`` sigmoid output).

    Args:
        head: The head's position.
        name: Metric name (default ``head_N_accuracy``).
        dtype: Metric dtype.
    """

    def __init__(self, head: int, name: str | None = None, dtype: Any = None):
        super().__init__(fn=_head_accuracy, name=name or f"head_{head}_accuracy", dtype=dtype, head=int(head))
        self.head = int(head)

    def get_config(self) -> dict[str, Any]:
        return {"head": self.head, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Rotate180(keras.layers.Layer):
    """Images ``(batch, height, width, channels)`` turned by 180 degrees."""

    def call(self, images):
        return keras.ops.flip(images, axis=(1, 2))


@keras.saving.register_keras_serializable(package=PACKAGE)
class BothWaysUp(keras.layers.Layer):
    """The mean of the heads' logits ``(batch, heads)`` read upright and of the negated, reversed ones read turned."""

    def call(self, upright, turned):
        return 0.5 * (upright - keras.ops.flip(turned, axis=-1))


def _head_accuracy(y_true, y_pred, head: int = 0):
    predicted = keras.ops.cast(y_pred[:, head] > 0.5, "float32")
    return keras.ops.cast(keras.ops.equal(predicted, keras.ops.cast(y_true[:, head], "float32")), "float32")


def captcha_task(heads: int) -> Task:
    """The run's task: binary cross-entropy over the heads, exact match (the best model) and each head's accuracy."""
    metrics = [ExactMatch(binary=True), keras.metrics.BinaryAccuracy(name="accuracy"),
               *(HeadAccuracy(head) for head in range(heads))]
    return Task(loss=keras.losses.BinaryCrossentropy(), metrics=metrics, monitor="val_exact_match", mode="max")


def build_captcha_net(input_shape: Sequence[int] = (28, 280, 3), heads: int = 10, dropout: float = 0.2,
                      name: str = "captcha_inverted10", dtype: str | None = None,
                      filters: Sequence[int] = FILTERS, cell_features: int = CELL_FEATURES, context: bool = True,
                      both_ways: bool = True):
    """The captcha net for ``heads`` characters in a row of ``input_shape`` (height, width, channels).

    ``dtype`` is the layers' dtype policy (``"mixed_bfloat16"`` trains faster on CPUs with bfloat16 units);
    the variables and the sigmoid output stay float32 either way, so the weights files are the same.
    ``filters``, ``cell_features`` and ``context`` shape the trunk (the shipped weights fit the defaults;
    ``(8, 16, 32)``, 64 and no context is the first release's net, which ``bench_captcha.py --widen`` grows).
    ``both_ways`` reads the row upright and turned by 180 degrees with the same layers and averages the
    heads' logits (see the module docstring); False reads it once, at half the cost, with the same weights.
    """
    layers = keras.layers
    height, width = int(input_shape[0]), int(input_shape[1])
    if height < 8 or width < 8 * heads:
        from hub_core.errors import InvalidArgumentError

        raise InvalidArgumentError(f"input_shape {tuple(input_shape)} leaves under 8x8 pixels per character for "
                                   f"{heads} heads; use at least (8, {8 * heads}, 3).")
    trunk = [layers.Rescaling(1 / 255.0, name="rescale", dtype=dtype)]
    for stage, channels in enumerate(filters, start=1):
        trunk += [layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{stage}", dtype=dtype),
                  layers.BatchNormalization(momentum=0.9, name=f"conv{stage}_bn", dtype=dtype),
                  layers.ReLU(name=f"conv{stage}_relu", dtype=dtype)]
        if stage < len(filters):
            trunk.append(layers.MaxPooling2D(2, name=f"pool{stage}", dtype=dtype))
    cell = (height // 2 ** (len(filters) - 1), width // 2 ** (len(filters) - 1) // heads)  # one character cell
    trunk += [layers.Conv2D(cell_features, cell, strides=cell, name="cells", dtype=dtype),  # (1, heads, features)
              layers.BatchNormalization(momentum=0.9, name="cells_bn", dtype=dtype),
              layers.ReLU(name="cells_relu", dtype=dtype),
              layers.Reshape((heads, cell_features), name="per_position", dtype=dtype)]
    if context:
        around = layers.Conv1D(cell_features, 3, padding="same", name="context", dtype=dtype)  # neighbouring cells
        add = layers.Add(name="cell_and_context", dtype=dtype)
        context_relu = layers.ReLU(name="context_relu", dtype=dtype)
    top = [layers.Dropout(dropout, name="dropout", dtype=dtype),
           layers.EinsumDense("bhc,hco->bho", output_shape=(heads, 1), bias_axes="ho", name="heads", dtype=dtype),
           layers.Reshape((heads,), name="logits", dtype=dtype)]

    def logits(x):
        for layer in trunk:
            x = layer(x)
        if context:
            x = context_relu(add([x, around(x)]))
        for layer in top:
            x = layer(x)
        return x

    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = logits(inputs)
    if both_ways:
        x = BothWaysUp(name="both_ways_up", dtype=dtype)(x, logits(Rotate180(name="turned", dtype=dtype)(inputs)))
    outputs = layers.Activation("sigmoid", dtype="float32", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.hub_task = captcha_task(heads)
    return model
