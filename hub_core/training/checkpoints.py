"""Training state in checkpoints: model, optimizer and metric variables, saved and restored.

Arrays are named by kind and position: ``m<i>`` model variables, ``o<i>``
optimizer variables, ``k<i>`` metric accumulators, plus ``epoch`` and ``step``.
The run directory (:class:`~hub_core.training.runs.RunDir`) writes and
verifies the files.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from hub_core.errors import DataError


def save_state(run_dir, model, trainer, state: dict[str, Any], metric_values: Sequence[Any] = ()) -> None:
    """Checkpoint ``model``'s variables, ``trainer``'s optimizer and ``metric_values`` at ``state``.

    Args:
        run_dir: The :class:`~hub_core.training.runs.RunDir`.
        model: The whole model.
        trainer: What ``fit`` runs on (the model, or its head over cached features).
        state: ``{"epoch", "step", "global_step", "phase"}``.
        metric_values: The metric accumulators of an epoch in progress.
    """
    import keras

    arrays = {f"m{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.variables)}
    if trainer.optimizer is not None and trainer.optimizer.built:
        arrays.update({f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(trainer.optimizer.variables)})
    arrays.update({f"k{i}": v for i, v in enumerate(metric_values)})
    arrays.update(epoch=state["epoch"], step=state["step"])
    run_dir.save_checkpoint(state, arrays)


def restore_state(model, trainer, arrays: dict[str, Any], *, optimizer_too: bool, learning_rate: float | None) -> dict[str, Any]:
    """Load a checkpoint's model (and optimizer) variables; return its metric accumulators.

    Args:
        model: The whole model.
        trainer: What ``fit`` runs on.
        arrays: The checkpoint's arrays.
        optimizer_too: Restore the optimizer (the checkpoint is inside the phase being resumed).
        learning_rate: Set this learning rate after restoring (a constant rate may change on restart), or None.

    Raises:
        DataError: When the model variables do not fit the checkpoint.
    """
    assign(model.variables, arrays, "m")
    if optimizer_too:
        optimizer = trainer.optimizer
        optimizer.build(trainer.trainable_variables)
        if not assign(optimizer.variables, arrays, "o", strict=False):
            warnings.warn("The checkpoint's optimizer state does not fit this run; the optimizer starts afresh.", stacklevel=3)
        elif learning_rate is not None:
            optimizer.learning_rate = learning_rate
    return {k: v for k, v in arrays.items() if k.startswith("k")}


def assign(variables, arrays: dict[str, Any], prefix: str, strict: bool = True) -> bool:
    """Assign the arrays ``<prefix><i>`` to ``variables``; False (or DataError when ``strict``) if they do not fit."""
    values = [arrays[f"{prefix}{i}"] for i in range(len(variables)) if f"{prefix}{i}" in arrays]
    count = sum(1 for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit())
    if count != len(variables) or any(tuple(v.shape) != tuple(a.shape) for v, a in zip(variables, values)):
        if strict:
            raise DataError(
                f"The checkpoint holds {count} {prefix!r} arrays that do not fit the model's {len(variables)} variables; "
                "resume with the same model and arguments, or start afresh (overwrite=True moves this run aside)."
            )
        return False
    for variable, value in zip(variables, values):
        variable.assign(value)
    return True


def add_metric_state(variables, metric_state: dict[str, Any]) -> None:
    """Add a checkpoint's metric accumulators (sums and counts) to ``variables`` (those after one step).

    Metrics are built when the first step is traced, so the state of a
    resumed epoch is restored additively after that step.
    """
    import numpy as np

    values = [metric_state[f"k{i}"] for i in range(len(metric_state))]
    if len(values) != len(variables) or any(tuple(v.shape) != np.shape(a) for v, a in zip(variables, values)):
        warnings.warn("The checkpoint's metric state does not fit; this epoch's metrics cover the resumed steps only.", stacklevel=3)
        return
    for variable, value in zip(variables, values):
        variable.assign_add(value)
