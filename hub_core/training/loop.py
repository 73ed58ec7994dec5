"""``hub.fine_tune`` and ``hub.train``: one run from set-up through the epoch loop to its saved result."""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import tempfile
import time
import warnings
from typing import Any, Sequence

from hub_core._keras_compat import forget_step_traces
from hub_core.errors import DataError, InvalidArgumentError
from hub_core.hub.spec import preprocessing_name
from hub_core.training import runs
from hub_core.training.callbacks import epoch_state_class, run_scoped_class
from hub_core.training.checkpoints import restore_state, save_state
from hub_core.training.distribute import build_before_fit, is_chief, resolve_distribution, scope
from hub_core.training.feature_cache import backbone_features, cache_allowed, cache_folder
from hub_core.training.inputs import (cardinality, count_classes, input_shape_of, pipeline_or_dataset, sample_targets,
                                      split_pair)
from hub_core.training.optim import apply_layer_decay, make_optimizer
from hub_core.training.options import JIT_COMPILE_AUTO, FitOptions, describe
from hub_core.training.phases import Phase, plan_phases, set_trainable, split_head, with_classifier
from hub_core.training.tasks import Task
from hub_core.vision.builder import raw_pixel_model


@dataclasses.dataclass
class FitResult:
    """What :func:`fine_tune` and :func:`train` return.

    Attributes:
        model: The trained ``keras.Model`` (final weights).
        history: Per-epoch metrics over the whole run (including epochs before a resume).
        best: ``{"monitor", "mode", "value", "epoch"}`` of the best model, or None.
        final: Metrics of the last epoch.
        run_dir: The run directory, or None.
        resumed_from: ``{"epoch", "step"}`` of the checkpoint resumed from, or None.
        skipped_files: Data files skipped as unreadable.
        wall_time: Seconds spent in this call.
    """

    model: Any
    history: dict[str, list[float]]
    best: dict[str, Any] | None
    final: dict[str, float]
    run_dir: pathlib.Path | None
    resumed_from: dict[str, int] | None = None
    skipped_files: list[dict[str, str]] = dataclasses.field(default_factory=list)
    wall_time: float = 0.0


def fine_tune(model: Any, train: Any, validation: Any = None, **options: Any) -> FitResult:
    """Fine-tune a model on new data.

    Args:
        model: A hub model name, a ``keras.Model`` or a function returning one.
        train: Training data: a dataset from :mod:`hub_core.data`, a batched ``tf.data.Dataset``, ``(x, y)``
            arrays, or a ``(train, validation)`` pair of those (what ``validation_split=`` returns).
        validation: Validation data in the same forms, or None.
        **options: The fields of :class:`~hub_core.training.options.FitOptions` (epochs, strategy, unfreeze,
            head_epochs, learning_rate, fine_tune_learning_rate, layer_decay, optimizer, schedule,
            label_smoothing, batchnorm, precision, mixed_precision, callbacks, run_dir, resume, overwrite,
            cache_features, feature_cache_dir, seed, distribution, checkpoint_every, batch_size, weights,
            num_classes, model_kwargs, blocks, task, verbose, jit_compile), each documented there.

    Returns:
        A :class:`FitResult`.

    Raises:
        InvalidArgumentError: For unknown options or strategies, or conflicting arguments.
        DataError: For unusable data.
    """
    return _Run(model, train, validation, FitOptions.from_kwargs(options)).run()


def train(model: Any, train: Any, validation: Any = None, *, epochs: int = 10, learning_rate: float = 1e-3,
          weights: Any = None, **options: Any) -> FitResult:
    """Train a model from scratch with the same loop as :func:`fine_tune` (``strategy="full"``).

    BatchNorm layers train (``batchnorm="train"`` by default): frozen ones would keep their
    initial statistics (mean 0, variance 1) and normalise nothing.

    Args:
        model: A hub model name, a ``keras.Model`` or a function returning one.
        train: Training data, or a ``(train, validation)`` pair (see :func:`fine_tune`).
        validation: Validation data or None.
        epochs: Epochs.
        learning_rate: Learning rate.
        weights: Initial weights of a named model (None: random initialisation).
        **options: Any other :class:`~hub_core.training.options.FitOptions` field.

    Returns:
        A :class:`FitResult`.

    Raises:
        InvalidArgumentError: For a strategy other than ``"full"``, or as :func:`fine_tune`.
    """
    if options.get("strategy", "full") != "full":
        raise InvalidArgumentError("hub.train always trains every layer; use hub.fine_tune for strategy='head' or 'two_phase'.")
    options["strategy"] = "full"
    options.setdefault("batchnorm", "train")
    return fine_tune(model, train, validation, epochs=epochs, learning_rate=learning_rate, weights=weights, **options)


class _Run:
    """State of one fine_tune/train call."""

    def __init__(self, model: Any, train: Any, validation: Any, options: FitOptions):
        self.model_spec = model
        self.train, self.validation = split_pair(train, validation)
        self.options = options
        self.started = time.time()
        self.plugin = None
        self.plugin_name = None
        self.preprocessing = None  # the named model's declared preprocessing, built into the model
        self.model_name = model if isinstance(model, str) else None

    # --- set-up ------------------------------------------------------------
    def run(self) -> FitResult:
        import keras

        o = self.options
        self.strategy = resolve_distribution(o.distribution)
        keras.utils.set_random_seed(int(o.seed))
        forget_step_traces()  # this run's new models trace their steps once: not a retracing of earlier runs'
        self.chief = is_chief(self.strategy)
        self.train_pipe, self.train_ds = pipeline_or_dataset(self.train, o.batch_size, o.seed, True)
        self.val_pipe, self.val_ds = (None, None)
        if self.validation is not None:
            self.val_pipe, self.val_ds = pipeline_or_dataset(self.validation, o.batch_size, o.seed, False)
        self.steps_per_epoch = self.train_pipe.steps_per_epoch if self.train_pipe else cardinality(self.train_ds)
        self.class_names = tuple(getattr(self.train_pipe, "class_names", ()) or getattr(self.train, "class_names", ()) or ())
        if len(self.class_names) == 1:
            raise DataError(f"The training data has one class ({self.class_names[0]}), and a classifier needs at least "
                            "two; add a sub-folder of examples for each other class.")
        self.run_dir = self._open_run_dir()
        with scope(self.strategy):
            self.model = self._build_model()
        self.task = o.task or getattr(self.model, "hub_task", None) or Task()
        self.blocks = self._blocks()
        self.phases = plan_phases(self.model, self.blocks, o)
        return self._loop()

    def _open_run_dir(self) -> runs.RunDir | None:
        """Open the run directory; an earlier run's results are replaced only with ``overwrite`` (moved aside).

        Raises:
            InvalidArgumentError: For ``resume=False`` into a directory holding an earlier run's results.
            DataError: For a damaged record in the directory (before any training).
        """
        o = self.options
        path = o.run_dir
        if path is None:
            return None
        if not self.chief:
            path = tempfile.mkdtemp(prefix="hub-worker-")
        run = runs.RunDir(path)
        if (o.overwrite or not o.resume) and run.holds_results():
            if not o.overwrite:
                raise InvalidArgumentError(
                    f"{run.path} holds an earlier run's results, which resume=False would replace; resume it, "
                    "move it aside with overwrite=True (--overwrite on the command line), or choose another run directory."
                )
            logging.getLogger("hub_core").warning("hub: moved the earlier run in %s to %s.", run.path, run.move_aside())
        run.prepare()
        config = o.recorded(self.model_spec)
        previous = runs.read_json(run / runs.RUN_CONFIG)
        if previous and o.resume and previous.get("arguments") != config:
            changed = sorted(k for k in config if previous.get("arguments", {}).get(k) != config[k])
            warnings.warn(f"Resuming {path} with changed arguments: {', '.join(changed)}.", stacklevel=4)
        return run

    def _build_model(self):
        import keras

        model = self.model_spec
        if isinstance(model, keras.Model):
            return model
        if isinstance(model, str):
            return self._build_named(model)
        if callable(model):
            built = model()
            if not isinstance(built, keras.Model):
                raise InvalidArgumentError(f"The model function returned {type(built).__name__}, not a keras.Model.")
            return built
        raise InvalidArgumentError(f"model must be a hub model name, a keras.Model or a function, not {type(model).__name__}.")

    def _build_named(self, name: str):
        from hub_core import api
        from hub_core.hub import catalog, registry

        o = self.options
        self.plugin_name, variant = catalog.resolve(name)
        self.plugin = registry.get_plugin(self.plugin_name)
        declared = self.plugin.variant(variant)
        classes = o.num_classes or len(self.class_names) or count_classes(self.train_pipe)
        if not classes:
            raise InvalidArgumentError(f"Cannot tell how many classes to train {name} for; pass num_classes=.")
        if classes == 1:
            raise DataError(f"The training data of {name} has one class, and a classifier needs at least two; "
                            "give examples of two or more classes (or num_classes=2 or more).")
        kwargs = dict(o.model_kwargs or {})
        shape = input_shape_of(self.train_pipe, self.train_ds)
        if shape and "input_shape" not in kwargs:
            kwargs["input_shape"] = shape
        ref = api.resolve_weights(self.plugin_name, variant, o.weights)
        self.preprocessing = preprocessing_name(self.plugin.preprocessing(declared))
        # the model takes raw pixels: the variant's declared preprocessing inside it, exactly once
        build = functools.partial(raw_pixel_model, self.plugin, declared, functools.partial(api.load, name, weights=o.weights))
        if "preprocessing" not in self.plugin.capabilities:
            if "tabular" in self.plugin.capabilities and ref is None:
                kwargs = {**self._table_of_training_data(), **kwargs}
            return build(**{"classes": classes, **kwargs})
        # hub_core.vision image models: a new classifier for our classes
        kwargs = {"precision": o.precision, **kwargs}
        top_size = declared.input_shape
        backbone_only = ref is not None and ref.weight_set is not None and ref.weight_set.num_classes is None
        # a pretrained classifier only fits its own input size; fine-tuning replaces it anyway
        other_size = ref is not None and top_size is not None and kwargs.get("input_shape") not in (None, tuple(top_size))
        if backbone_only or other_size:
            return with_classifier(build(include_top=False, pooling="avg", **kwargs), classes)
        return build(include_top=True, num_classes=classes, **kwargs)

    def _table_of_training_data(self) -> dict[str, Any]:
        """``features=`` and ``data=`` for a tabular plugin, from a ``hub.data.table`` training set."""
        spec = getattr(self.train, "spec", None)
        frame = getattr(self.train, "frame", None)
        return {} if spec is None or frame is None else {"features": spec, "data": frame}

    def _blocks(self) -> list[list[str]]:
        if self.options.blocks:
            return [list(b) for b in self.options.blocks]
        if self.plugin is not None:
            return [list(b) for b in self.plugin.blocks(self.model)]
        return [[layer.name] for layer in self.model.layers if layer.weights]

    # --- the loop ----------------------------------------------------------
    def _loop(self) -> FitResult:
        history: dict[str, list[float]] = {}
        start = {"epoch": 0, "step": 0, "global_step": 0}
        restored = None
        if self.run_dir is not None:
            self._write_static_files()
            if self.options.resume:
                restored = self.run_dir.latest_checkpoint()
                if restored:
                    start = {k: int(restored[0][k]) for k in ("epoch", "step", "global_step")}
                    metrics = runs.read_json(self.run_dir / runs.METRICS, {}) or {}
                    history = {k: v[: start["epoch"]] for k, v in metrics.get("history", {}).items()}
        self.history = history
        self.global_step = start["global_step"]
        self.stop_requested = False
        self.user_callbacks = [run_scoped_class()(c) for c in self.options.callbacks]
        for phase in self.phases:
            first, stop = phase.epochs
            if start["epoch"] >= stop:
                continue
            trainer, elements = self._prepare_phase(phase)
            metric_state = None
            if restored is not None:
                metric_state = self._restore(trainer, restored[1], phase, in_phase=start["epoch"] > first or start["step"] > 0)
                restored = None
            for epoch in range(max(first, start["epoch"]), stop):
                skip = start["step"] if epoch == start["epoch"] else 0
                self._run_epoch(trainer, phase, epoch, skip, elements, metric_state if skip else None)
                metric_state = None
                if self.stop_requested:  # e.g. keras.callbacks.EarlyStopping
                    return self._finish(start)
        return self._finish(start)

    def _prepare_phase(self, phase: Phase):
        """Set trainable flags, pick the trainer (full model or cached head) and compile it."""
        import keras

        o = self.options
        set_trainable(self.model, phase.trainable, o.batchnorm)
        trainer, elements = self.model, None
        if phase.trainable is not None and cache_allowed(o.cache_features, self.model, phase.trainable, self.train_pipe,
                                                         self.validation, self.val_pipe, self.strategy):
            split = split_head(self.model, phase.trainable)
            if split is not None:
                features_at, trainer = split
                pipes = {"train": self.train_pipe, "validation": self.val_pipe}
                folder = cache_folder(o.feature_cache_dir, self.run_dir)
                elements = backbone_features(self.model, features_at, pipes, folder, o.verbose)
        with scope(self.strategy):
            steps = max(1, self.steps_per_epoch * (phase.epochs[1] - phase.epochs[0]))
            optimizer = make_optimizer(o.optimizer, trainer, phase.lr, o.schedule, steps, plugin=self.plugin)
            apply_layer_decay(optimizer, trainer, phase.decay)
            sample = sample_targets(self.train_pipe, self.train_ds)
            self.task.compile(trainer, optimizer, sample_targets=sample, label_smoothing=float(o.label_smoothing))
            jit_compile = self._jit_compile()
            if jit_compile is not None:
                trainer.jit_compile = jit_compile  # Keras keeps False for a model with a layer XLA cannot compile
            build_before_fit(trainer, self.train_pipe, self.train_ds, elements)
        if o.verbose:
            trainable = sum(int(keras.ops.size(v)) for v in trainer.trainable_variables)
            where = "cached features" if elements is not None else "the full model"
            print(f"hub: phase '{phase.name}': epochs {phase.epochs[0] + 1}-{phase.epochs[1]}, "
                  f"{trainable:,} trainable parameters, learning rate {phase.lr:g}, through {where}")
        return trainer, elements

    def _jit_compile(self) -> bool | None:
        """XLA on or off as asked, or under "auto" on a CPU-only machine what bench_xla measured for the named
        model's task; None leaves Keras' own choice (XLA on accelerators)."""
        import tensorflow as tf

        choice = self.options.jit_compile
        if choice != "auto":
            return bool(choice)
        if self.plugin is None or any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
            return None
        return JIT_COMPILE_AUTO.get(self.plugin.task)

    def _restore(self, trainer, arrays: dict[str, Any], phase: Phase, in_phase: bool):
        """Load a checkpoint's model, optimizer and metric variables; return the metric state."""
        constant = self.options.schedule in (None, "constant")
        state = restore_state(self.model, trainer, arrays, optimizer_too=in_phase, learning_rate=phase.lr if constant else None)
        if self.options.verbose:
            print(f"hub: resumed from {self.run_dir.path} at epoch {int(arrays['epoch']) + 1}, step {int(arrays['step'])}")
        return state

    def _run_epoch(self, trainer, phase: Phase, epoch: int, skip: int, elements, metric_state) -> None:
        if self.train_pipe:
            train_data = self.train_pipe.epoch(epoch, skip=skip, elements=elements and elements.get("train"))
        else:
            train_data = self.train_ds.skip(skip)
        val_data = self.val_ds
        if self.val_pipe is not None:
            val_data = self.val_pipe.epoch(0, elements=elements and elements.get("validation"))
        callbacks = list(self.user_callbacks)
        if self.run_dir is not None:
            import keras

            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(self.run_dir / runs.LOGS), write_graph=False, profile_batch=0))
        # last, so it sees a stop asked by the others; it ends fit after this one epoch
        callbacks.append(epoch_state_class()(self, trainer, phase, epoch, skip, metric_state))
        history = trainer.fit(train_data, validation_data=val_data, epochs=int(self.options.epochs), initial_epoch=epoch,
                              callbacks=callbacks, verbose=self.options.verbose, shuffle=False)
        if not history.history:
            raise DataError("The training data yielded no batch; check that it is not empty.")

    def end_epoch(self, trainer, phase: Phase, epoch: int, logs: dict[str, float]) -> None:
        """Record an epoch's metrics, offer the best model and checkpoint (called by the EpochState callback)."""
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        if self.run_dir is None:
            return
        monitor = self.task.monitor or ("val_loss" if "val_loss" in logs else "loss")
        if monitor in logs:
            self.run_dir.offer_best(self.model, monitor, self.task.mode, float(logs[monitor]), epoch + 1)
        runs.write_json(self.run_dir / runs.METRICS, {"history": self.history, "best": self.run_dir.best()})
        self.checkpoint(trainer, phase, epoch + 1, 0)

    def checkpoint(self, trainer, phase: Phase, epoch: int, step: int, metric_values: Sequence[Any] = ()) -> None:
        """Checkpoint the run at ``epoch`` and ``step``."""
        state = {"epoch": epoch, "step": step, "global_step": self.global_step, "phase": phase.name}
        save_state(self.run_dir, self.model, trainer, state, metric_values)

    def _write_static_files(self) -> None:
        run = self.run_dir
        runs.write_json(run / runs.RUN_CONFIG, {
            "model": self.model_name or getattr(self.model, "name", None),
            "plugin": self.plugin_name,
            "preprocessing": self.preprocessing,
            "arguments": self.options.recorded(self.model_spec),
            "data": {part: pipe.record() for part, pipe in (("train", self.train_pipe), ("validation", self.val_pipe))
                     if pipe is not None},
            "hub_core": __import__("hub_core").__version__,
        })
        runs.write_json(run / runs.CLASS_NAMES, list(self.class_names))
        shape = input_shape_of(self.train_pipe, self.train_ds)
        runs.write_json(run / runs.PREPROCESSING, {
            "input_shape": list(shape) if shape else None,
            "input_range": [0, 255],
            "resize": "bilinear",
            "preprocessing_in_model": self.train_pipe is None or self.train_pipe.preprocess is None,
            "pipeline_preprocess": describe(self.train_pipe.preprocess) if self.train_pipe else None,
        })
        skipped = self._skipped_files()
        if skipped:
            runs.write_json(run / runs.SKIPPED, {"count": len(skipped), "files": skipped})

    def _skipped_files(self) -> list[dict[str, str]]:
        """Unreadable files of the training and validation data, each once."""
        found = {}
        for pipe in (self.train_pipe, self.val_pipe):
            for entry in getattr(pipe, "skipped_files", None) or []:
                found.setdefault(entry["path"], entry)
        return list(found.values())

    def _finish(self, start: dict[str, int]) -> FitResult:
        for callback in self.user_callbacks:
            callback.end_run()
        final = {k: v[-1] for k, v in self.history.items() if v}
        best = None
        if self.run_dir is not None:
            runs.save_model(self.model, self.run_dir / runs.FINAL_MODEL)
            best = self.run_dir.best()
            runs.write_json(self.run_dir / runs.METRICS, {"history": self.history, "best": best, "final": final})
            if self.history:
                runs.plot_curves(self.history, self.run_dir / runs.CURVES)
        result = FitResult(
            model=self.model, history=self.history, best=best, final=final,
            run_dir=self.run_dir.path if self.run_dir is not None and self.chief else None,
            resumed_from={"epoch": start["epoch"], "step": start["step"]} if start["epoch"] or start["step"] else None,
            skipped_files=self._skipped_files(), wall_time=time.time() - self.started,
        )
        if self.options.verbose and result.run_dir:
            print(f"hub: run saved to {result.run_dir}")
        return result
