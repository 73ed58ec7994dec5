"""Evaluation of a model or run directory on labelled data."""

from __future__ import annotations

import os
import pathlib
from typing import Any

from hub_core.errors import DataError, InvalidArgumentError
from hub_core import saving
from hub_core.training.inputs import as_dataset, cardinality


def evaluate(model: Any, data: Any, *, batch_size: int = 32, top_k: int = 5, verbose: int = 0) -> dict[str, Any]:
    """Evaluate a model or run directory on labelled data.

    Args:
        model: A ``keras.Model``, a run directory or a ``.keras`` file.
        data: A dataset from :mod:`hub_core.data`, a batched ``tf.data.Dataset`` or ``(x, y)`` arrays.
        batch_size: Batch size for arrays.
        top_k: k of the top-k accuracy (classification with more than k classes).
        verbose: 1 shows a progress bar.

    Returns:
        For single-output classifiers: ``accuracy``, ``top_k_accuracy`` (with ``k``), ``loss``,
        ``confusion_matrix`` (rows: true class), ``class_names`` and ``num_examples``. Multi-label
        targets give ``binary_accuracy`` and ``exact_match``; multi-output models give per-output
        accuracies and ``all_outputs_accuracy`` (every head right).
    """
    import keras
    import numpy as np

    if int(top_k) < 1:
        raise InvalidArgumentError(f"top_k must be at least 1, not {top_k}.")
    model = open_model(model)
    dataset = as_dataset(data, batch_size=batch_size, training=False)
    outputs, targets = _predict_with_targets(model, dataset, verbose)
    result: dict[str, Any] = {"num_examples": int(len(keras.tree.flatten(targets)[0]))}
    names = getattr(model, "class_names", None) or getattr(data, "class_names", None) or ()
    if isinstance(outputs, (list, tuple)) or isinstance(outputs, dict):
        flat_out, flat_true = keras.tree.flatten(outputs), keras.tree.flatten(targets)
        correct = []
        for index, (pred, true) in enumerate(zip(flat_out, flat_true)):
            single = _classification_metrics(pred, true, top_k)
            correct.append(single.pop("_correct"))
            result[f"output_{index}"] = single
        result["all_outputs_accuracy"] = float(np.mean(np.all(np.stack(correct, axis=-1).reshape(len(correct[0]), -1), axis=-1)))
        result["loss"] = float(sum(result[f"output_{i}"]["loss"] for i in range(len(flat_out))))
        return result
    metrics = _classification_metrics(outputs, targets, top_k)
    correct = metrics.pop("_correct")
    if correct.ndim > 1:
        metrics["exact_match"] = float(np.mean(np.all(correct, axis=tuple(range(1, correct.ndim)))))
    result.update(metrics)
    if "confusion_matrix" in result:
        result["class_names"] = list(names)
    return result


def open_model(model: Any):
    """``model`` itself, or the saved model of a run directory or ``.keras`` file.

    Raises:
        InvalidArgumentError: For anything else.
    """
    import keras

    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)) and pathlib.Path(model).exists():
        return saving.open_saved(model)
    raise InvalidArgumentError(f"Expected a keras.Model, a run directory or a .keras file, not {model!r}.")


def _predict_with_targets(model, dataset, verbose: int):
    """Run ``model`` over a labelled dataset; return ``(outputs, targets)`` as numpy (nested like the model)."""
    import keras
    import numpy as np

    outputs, targets = [], []
    iterator = dataset.as_numpy_iterator()
    progress = _progress(cardinality(dataset), verbose)
    for batch in iterator:
        x, y = batch[0], batch[1]
        outputs.append(model(x, training=False))
        targets.append(y)
        progress.update(1)
    progress.close()
    if not outputs:
        raise DataError("The evaluation data is empty; pass at least one labelled example.")
    concat = lambda *parts: np.concatenate([np.asarray(p) for p in parts])
    return keras.tree.map_structure(concat, *outputs), keras.tree.map_structure(concat, *targets)


def _progress(total: int, verbose: int):
    from tqdm.auto import tqdm

    return tqdm(total=total if total < 1 << 61 else None, disable=not verbose, unit="batch", desc="hub")


def _classification_metrics(pred, true, top_k: int) -> dict[str, Any]:
    """Accuracy, top-k, loss and confusion matrix of one output, chosen by the target layout."""
    import numpy as np

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true)
    units = pred.shape[-1] if pred.ndim else 1
    if np.issubdtype(true.dtype, np.integer) and true.ndim == pred.ndim - 1 and units > 1:
        classes = np.argmax(pred, axis=-1)
        correct = classes == true
        picked = np.take_along_axis(pred, true[..., None].astype(np.int64), axis=-1)[..., 0]
        result = {"accuracy": float(correct.mean()), "loss": float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())}
        if true.ndim == 1:
            if units > top_k:
                top = np.argsort(-pred, axis=-1)[:, :top_k]
                result["top_k_accuracy"] = float(np.mean(np.any(top == true[:, None], axis=1)))
                result["k"] = top_k
            matrix = np.zeros((units, units), dtype=np.int64)
            np.add.at(matrix, (true.astype(np.int64), classes), 1)
            result["confusion_matrix"] = matrix.tolist()
        result["_correct"] = correct
        return result
    if units == 1 or (true.ndim == pred.ndim and set(np.unique(true)).issubset({0, 1})):
        true_f = true.reshape(pred.shape).astype(np.float64)
        clipped = np.clip(pred, 1e-7, 1 - 1e-7)
        correct = (pred > 0.5) == (true_f > 0.5)
        result = {"binary_accuracy": float(correct.mean()),
                  "loss": float(-(true_f * np.log(clipped) + (1 - true_f) * np.log(1 - clipped)).mean())}
        if units == 1:
            result["accuracy"] = result["binary_accuracy"]
        result["_correct"] = correct
        return result
    error = pred - true.reshape(pred.shape)
    return {"loss": float(np.mean(error**2)), "mean_absolute_error": float(np.mean(np.abs(error))),
            "_correct": np.abs(error) < 0.5}
