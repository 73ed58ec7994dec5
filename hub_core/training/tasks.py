"""The task of a run: its loss, metrics and monitored metric, given or inferred from the targets.

The losses and metrics built here are registered Keras objects (package
``hub_core``), so a run's saved models reopen with ``compile=True``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

PACKAGE = "hub_core"


@dataclasses.dataclass
class Task:
    """Loss, metrics and monitored metric of a training run (the plugin hook).

    Attributes:
        loss: A Keras loss (or a list/dict per output); None infers it; ``False`` compiles without a
            loss for models whose ``train_step``/``compute_loss`` computes it.
        metrics: Keras metrics; None infers them.
        monitor: Metric deciding the best model; None means ``val_loss`` (``loss`` without validation).
        mode: ``"min"`` or ``"max"`` for ``monitor``.
    """

    loss: Any = None
    metrics: Any = None
    monitor: str | None = None
    mode: str = "min"

    def compile(self, model, optimizer, *, sample_targets, label_smoothing: float = 0.0) -> None:
        """Compile ``model`` with ``optimizer`` and this task's loss and metrics."""
        loss, metrics = self.loss, self.metrics
        if loss is None or metrics is None:
            inferred_loss, inferred_metrics = infer_loss(model, sample_targets, label_smoothing)
            loss = inferred_loss if loss is None else loss
            metrics = inferred_metrics if metrics is None else metrics
        model.compile(optimizer=optimizer, loss=loss or None, metrics=metrics)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy with label smoothing for integer class ids.

    Args:
        num_classes: Number of classes (the one-hot width).
        label_smoothing: Label smoothing in ``[0, 1)``.
        name: Loss name.
        **kwargs: Standard loss arguments (``reduction``, ``dtype``).
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0,
                 name: str = "smoothed_sparse_categorical_crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        one_hot = keras.ops.one_hot(keras.ops.cast(y_true, "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}


def _exact_match(y_true, y_pred, binary: bool = False):
    """Per example: 1.0 when every head (or label) is right, else 0.0."""
    if binary:
        right = keras.ops.equal(keras.ops.cast(y_pred > 0.5, "int32"), keras.ops.cast(y_true, "int32"))
    else:
        right = keras.ops.equal(keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32"), keras.ops.cast(y_true, "int32"))
    right = keras.ops.reshape(right, (keras.ops.shape(right)[0], -1))
    return keras.ops.cast(keras.ops.all(right, axis=-1), "float32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class ExactMatch(keras.metrics.MeanMetricWrapper):
    """Mean of examples whose every head (or label) is right: the seed's all-heads-correct accuracy.

    Args:
        binary: Targets are 0/1 labels of sigmoid outputs (else class ids of softmax outputs).
        name: Metric name.
        dtype: Metric dtype.
    """

    def __init__(self, binary: bool = False, name: str = "exact_match", dtype: Any = None):
        super().__init__(fn=_exact_match, name=name, dtype=dtype, binary=bool(binary))
        self.binary = bool(binary)

    def get_config(self) -> dict[str, Any]:
        return {"binary": self.binary, "name": self.name, "dtype": self.dtype}


def infer_loss(model, targets, label_smoothing: float = 0.0):
    """A loss and metrics for ``model`` from a sample batch of ``targets``.

    Args:
        model: The model (its outputs' shapes and activations are read).
        targets: One batch of targets (numpy; a list/dict for multi-output models).
        label_smoothing: Label smoothing for categorical losses.

    Returns:
        ``(loss, metrics)`` suitable for ``model.compile``.
    """
    import numpy as np

    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):  # subclassed models have no symbolic outputs
        outputs = []
    flat_targets = keras.tree.flatten(targets)
    if len(flat_targets) > 1:
        shapes = [tuple(o.shape) for o in outputs] if len(outputs) == len(flat_targets) else [None] * len(flat_targets)
        pairs = [_single_loss(np.asarray(t), s, label_smoothing) for t, s in zip(flat_targets, shapes)]
        losses, metrics = [loss for loss, _ in pairs], [metric for _, metric in pairs]
        if isinstance(targets, dict):
            return dict(zip(targets, losses)), dict(zip(targets, metrics))
        return losses, metrics
    shape = tuple(outputs[0].shape) if outputs else None
    return _single_loss(np.asarray(flat_targets[0]), shape, label_smoothing)


def _single_loss(targets, output_shape, label_smoothing: float):
    import numpy as np

    units = output_shape[-1] if output_shape else None
    integer = np.issubdtype(targets.dtype, np.integer)
    if units in (None, 1) and targets.ndim <= 2 and set(np.unique(targets)).issubset({0, 1}):
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing), ["binary_accuracy"]
    if integer and output_shape is not None and targets.ndim == len(output_shape) - 1:
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if label_smoothing:
            return SmoothedSparseCategoricalCrossentropy(units, label_smoothing), metrics
        if units and units > 5 and targets.ndim == 1:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"))
        if targets.ndim > 1:
            metrics.append(ExactMatch())
        return keras.losses.SparseCategoricalCrossentropy(), metrics
    if targets.ndim >= 2 and set(np.unique(targets)).issubset({0, 1}) and not np.all(targets.sum(-1) == 1):
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing), ["binary_accuracy", ExactMatch(binary=True)]
    if targets.ndim >= 2 and np.allclose(targets.sum(-1), 1):
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing), [keras.metrics.CategoricalAccuracy(name="accuracy")]
    return keras.losses.MeanSquaredError(), ["mean_absolute_error"]
