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
                      filters: Sequence[int] = FILTERS, cell_features: int = CELL_FEATURES, context: bool = True):
    """The captcha net for ``heads`` characters in a row of ``input_shape`` (height, width, channels).

    ``dtype`` is the layers' dtype policy (``"mixed_bfloat16"`` trains faster on CPUs with bfloat16 units);
    the variables and the sigmoid output stay float32 either way, so the weights files are the same.
    ``filters``, ``cell_features`` and ``context`` shape the trunk (the shipped weights fit the defaults;
    ``(8, 16, 32)``, 64 and no context is the first release's net, which ``bench_captcha.py --widen`` grows).
    """
    layers = keras.layers
    height, width = int(input_shape[0]), int(input_shape[1])
    if height < 8 or width < 8 * heads:
        from hub_core.errors import InvalidArgumentError

        raise InvalidArgumentError(f"input_shape {tuple(input_shape)} leaves under 8x8 pixels per character for "
                                   f"{heads} heads; use at least (8, {8 * heads}, 3).")
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = layers.Rescaling(1 / 255.0, name="rescale", dtype=dtype)(inputs)
    for stage, channels in enumerate(filters, start=1):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{stage}", dtype=dtype)(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"conv{stage}_bn", dtype=dtype)(x)
        x = layers.ReLU(name=f"conv{stage}_relu", dtype=dtype)(x)
        if stage < len(filters):
            x = layers.MaxPooling2D(2, name=f"pool{stage}", dtype=dtype)(x)
    cell = (x.shape[1], x.shape[2] // heads)  # one character cell of the feature map
    x = layers.Conv2D(cell_features, cell, strides=cell, name="cells", dtype=dtype)(x)  # (1, heads, features)
    x = layers.BatchNormalization(momentum=0.9, name="cells_bn", dtype=dtype)(x)
    x = layers.ReLU(name="cells_relu", dtype=dtype)(x)
    x = layers.Reshape((heads, cell_features), name="per_position", dtype=dtype)(x)
    if context:
        around = layers.Conv1D(cell_features, 3, padding="same", name="context", dtype=dtype)(x)  # neighbouring cells
        x = layers.ReLU(name="context_relu", dtype=dtype)(layers.Add(name="cell_and_context", dtype=dtype)([x, around]))
    x = layers.Dropout(dropout, name="dropout", dtype=dtype)(x)
    x = layers.EinsumDense("bhc,hco->bho", output_shape=(heads, 1), bias_axes="ho", name="heads", dtype=dtype)(x)
    x = layers.Reshape((heads,), name="logits", dtype=dtype)(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.hub_task = captcha_task(heads)
    return model
