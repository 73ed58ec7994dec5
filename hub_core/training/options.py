"""``FitOptions``: every option of ``hub.fine_tune`` and ``hub.train``, typed, documented and checked."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

from hub_core.errors import InvalidArgumentError, did_you_mean

STRATEGIES = ("two_phase", "head", "full")
# jit_compile="auto" per plugin task on CPU-only machines, from benchmarks/bench_xla.py (see the README); on
# accelerators, and for models without a plugin (a keras.Model, a model function), Keras' own "auto" decides.
JIT_COMPILE_AUTO = {"image-classification": False, "tabular": False}
BATCHNORM_MODES = ("frozen", "train")
# Options run.json does not record: user objects, how this call opened the run directory, and where cached
# features are kept; none describes the run's result (so resuming after an overwrite does not count as changed arguments).
NOT_RECORDED = ("callbacks", "resume", "overwrite", "feature_cache_dir")


@dataclasses.dataclass
class FitOptions:
    """The options of a training run (see :mod:`hub_core.training` for the strategies and hooks).

    Attributes:
        epochs: Total epochs (both phases of ``two_phase`` together).
        strategy: ``"two_phase"``, ``"head"`` or ``"full"``.
        unfreeze: Blocks unfrozen in the second phase, counted from the head (the head excluded).
        head_epochs: Epochs of the first phase of ``two_phase`` (default: half, at least 1).
        learning_rate: Learning rate of the head phase (and of ``"head"``/``"full"``).
        fine_tune_learning_rate: Learning rate of the second phase (default ``learning_rate / 10``).
        layer_decay: Multiply the learning rate by ``layer_decay ** k`` for the k-th unfrozen block below the head.
        optimizer: Optimizer name, ``keras.optimizers.Optimizer`` (its config is reused per phase) or
            function ``(model, learning_rate) -> Optimizer``.
        schedule: None (constant), ``"constant"``, ``"cosine"`` or a ``keras.optimizers.schedules.LearningRateSchedule``.
        label_smoothing: Label smoothing of the classification loss.
        batchnorm: ``"frozen"`` keeps BatchNorm layers in inference mode while fine-tuning; ``"train"`` updates them
            (the default of ``hub.train``: from scratch, frozen layers would normalise nothing).
        precision: Builder precision for hub models (``"auto"``, ``"float32"``, ``"bfloat16"``).
        mixed_precision: Shortcut: True means ``precision="bfloat16"``, False ``"float32"``.
        callbacks: Extra Keras callbacks.
        run_dir: Run directory (checkpoints, best/final model, metrics, plot, logs); None writes nothing.
        resume: Continue from the last complete checkpoint in ``run_dir``; False starts afresh, which a
            directory holding an earlier run's results refuses unless ``overwrite`` is set.
        overwrite: Move an earlier run in ``run_dir`` aside (renamed ``RUN_DIR.YYYYmmdd-HHMMSS``) and start afresh.
        cache_features: ``"auto"``, True or False (see :mod:`hub_core.training`).
        feature_cache_dir: Folder of the on-disk feature cache, which runs can share (a sweep's trials do); default
            ``RUN_DIR/feature_cache``.
        seed: Seed of initialisation, shuffling and augmentation.
        distribution: ``"auto"``, None or a ``tf.distribute.Strategy``.
        checkpoint_every: Also checkpoint every N training steps (epoch ends always checkpoint).
        batch_size: Batch size used when the data is given as arrays.
        weights: Weights of a named model (``"default"``, None, a set name or a path).
        num_classes: Classes of the new head; defaults to the data's class names or labels.
        model_kwargs: Extra builder options for a named model.
        blocks: Layer-name groups from input to output; defaults to the plugin's ``blocks(model)``.
        task: Loss/metrics hook (a :class:`~hub_core.training.tasks.Task`); defaults to the model's
            ``hub_task`` attribute or inference.
        verbose: 0 silent, 1 progress bars.
        jit_compile: XLA compilation of the training and evaluation steps: True, False, or ``"auto"``: on a
            CPU-only machine the measured choice for the named model's plugin task (``JIT_COMPILE_AUTO``), else
            Keras' own (XLA on accelerators).

    Raises:
        InvalidArgumentError: From ``__post_init__``, for a value out of range.
    """

    epochs: int = 3
    strategy: str = "two_phase"
    unfreeze: int = 2
    head_epochs: int | None = None
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float | None = None
    layer_decay: float | None = None
    optimizer: Any = "adam"
    schedule: Any = None
    label_smoothing: float = 0.0
    batchnorm: str = "frozen"
    precision: str = "auto"
    mixed_precision: bool | None = None
    callbacks: Sequence[Any] = ()
    run_dir: str | os.PathLike | None = None
    resume: bool = True
    overwrite: bool = False
    cache_features: Any = "auto"
    feature_cache_dir: str | os.PathLike | None = None
    seed: int = 0
    distribution: Any = "auto"
    checkpoint_every: int | None = None
    batch_size: int = 32
    weights: Any = "default"
    num_classes: int | None = None
    model_kwargs: dict[str, Any] | None = None
    blocks: Sequence[Sequence[str]] | None = None
    task: Any = None
    verbose: int = 1
    jit_compile: Any = "auto"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InvalidArgumentError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}.")
        if self.batchnorm not in BATCHNORM_MODES:
            raise InvalidArgumentError(f"batchnorm must be 'frozen' or 'train', not {self.batchnorm!r}.")
        if int(self.epochs) < 1:
            raise InvalidArgumentError(f"epochs must be at least 1, not {self.epochs}.")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            raise InvalidArgumentError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}.")
        if self.checkpoint_every is not None and int(self.checkpoint_every) < 1:
            raise InvalidArgumentError(f"checkpoint_every must be at least 1 step, or None, not {self.checkpoint_every}.")
        if not (isinstance(self.jit_compile, bool) or self.jit_compile == "auto"):
            raise InvalidArgumentError(f"jit_compile must be 'auto', True or False, not {self.jit_compile!r}.")
        if self.mixed_precision is not None:
            self.precision = "bfloat16" if self.mixed_precision else "float32"

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> "FitOptions":
        """``FitOptions(**options)``, with one sentence for a misspelt option.

        Raises:
            InvalidArgumentError: For an option that is not a field, naming the close matches.
        """
        fields = [field.name for field in dataclasses.fields(cls)]
        for name in options:
            if name not in fields:
                raise InvalidArgumentError(
                    f"Unknown training option {name!r}.{did_you_mean(name, fields) or ' Options: ' + ', '.join(fields) + '.'}"
                )
        return cls(**options)

    def recorded(self, model: Any) -> dict[str, Any]:
        """The run's arguments as run.json records them: the model and every option but the callbacks."""
        arguments = {"model": describe(model)}
        arguments.update({field.name: describe(getattr(self, field.name)) for field in dataclasses.fields(self)
                          if field.name not in NOT_RECORDED})
        return arguments


def describe(value: Any) -> Any:
    """A JSON-friendly description of an argument (for run.json and cache keys)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "get_config") and hasattr(value, "name") and not callable(getattr(value, "call", None)):
        return {"class": type(value).__name__, "config": describe(value.get_config())}
    name = getattr(value, "__qualname__", None) or type(value).__name__
    return f"<{getattr(value, '__module__', '')}.{name}>"
