"""One training loop for every model: fine-tuning, training, evaluation, prediction.

``hub.fine_tune`` adapts a pretrained hub model (or any ``keras.Model``) to
new classes; ``hub.train`` runs the same loop from scratch. Both write a run
directory (see :mod:`hub_core.training.runs`), checkpoint atomically at every epoch
end and every ``checkpoint_every`` steps, and resume after a crash when
called again with the same arguments.

Example:
    >>> import hub_core as hub
    >>> train, val = hub.data.image_folder("flowers/", image_size=(64, 64), validation_split=0.2)
    >>> result = hub.fine_tune("vgg16", train, val, epochs=4, run_dir="runs/flowers")
    >>> result.best, result.final
    >>> hub.evaluate("runs/flowers", val)["accuracy"]
    >>> hub.predict("runs/flowers", ["daisy.jpg"])[0]["label"]

Strategies (``strategy=``):
    ``"head"``: the backbone is frozen and only the head (the plugin's last
    block, usually the classifier, plus any dropout before it) trains.
    ``"full"``: every layer trains.
    ``"two_phase"`` (default): the head trains for ``head_epochs`` epochs, then
    the top ``unfreeze`` blocks of ``plugin.blocks(model)`` are unfrozen and
    train with ``fine_tune_learning_rate`` (default ``learning_rate / 10``),
    multiplied by ``layer_decay ** depth`` for blocks further from the head
    (discriminative learning rates). BatchNorm layers stay in inference mode
    unless ``batchnorm="train"``.

Feature cache: while the backbone is frozen, inputs are not augmented and
the backbone has no stochastic layer, the backbone's outputs are computed
once and the head trains on them (``cache_features="auto"``). The cache is
kept in memory and, with a run directory, on disk under
``RUN_DIR/feature_cache/`` keyed by the backbone weights' hash, the data
fingerprint and the preprocessing.

Plugging in other models (the hooks):
    * Any ``keras.Model``, a hub name, or a zero-argument function returning a
      model (needed for ``distribution``: the model is built in the strategy's scope).
    * ``task=``: a :class:`Task` (or a model attribute ``hub_task``) supplies
      the loss, the metrics and the monitored metric. The default task infers
      them from the targets and the model's outputs: class ids or one-hot
      (softmax), multi-label (multi-hot targets, sigmoid outputs), binary,
      multi-output models (a loss per output, e.g. the seed's captcha net
      with 10 binary heads) and outputs of shape ``(heads, classes)``.
    * ``optimizer=``: a name, a ``keras.optimizers.Optimizer``, or a function
      ``(model, learning_rate) -> Optimizer``. A name is first looked up among
      the optimizers the model's plugin offers (``"split"`` for wide_deep: FTRL
      on the wide part, Adam on the deep part), then among Keras'.
    * A model that overrides ``train_step``/``compute_loss`` (a perceptual
      loss) trains through the same loop: pass ``task=Task(loss=False, metrics=[])``
      or a task whose ``compile`` does what the model needs.
    * Keras callbacks run as usual; one that sets ``model.stop_training``
      (``EarlyStopping``) ends the run after that epoch.

Distribution (``distribution="auto"``): with ``TF_CONFIG`` naming several
workers a ``MultiWorkerMirroredStrategy`` is used; with several local GPUs a
``MirroredStrategy``; otherwise none. On a real cluster, start the same
command on every machine with ``TF_CONFIG`` set, e.g. on worker ``i``::

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": i}}' hub train ... --out RUN_DIR

The batch size is the global batch; worker 0 (the chief) writes the run
directory, the others write to a temporary directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import pathlib
import tempfile
import time
import warnings
from typing import Any, Sequence

from hub_core.data.cluster import cluster_strategy
from hub_core._keras_compat import build_from_batch, direct_sublayers, inbound_call_count, is_functional, variable_key
from hub_core.training import runs
from hub_core.errors import DataError, InvalidArgumentError, PluginError

STRATEGIES = ("two_phase", "head", "full")
STOCHASTIC_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                     "GaussianDropout", "AlphaDropout")


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


# --- the public API --------------------------------------------------------
def fine_tune(model: Any, train: Any, validation: Any = None, *, epochs: int = 3, strategy: str = "two_phase",
              unfreeze: int = 2, head_epochs: int | None = None, learning_rate: float = 1e-3,
              fine_tune_learning_rate: float | None = None, layer_decay: float | None = None,
              optimizer: Any = "adam", schedule: Any = None, label_smoothing: float = 0.0,
              batchnorm: str = "frozen", precision: str = "auto", mixed_precision: bool | None = None,
              callbacks: Sequence[Any] = (), run_dir: str | os.PathLike | None = None, resume: bool = True,
              cache_features: Any = "auto", seed: int = 0, distribution: Any = "auto",
              checkpoint_every: int | None = None, batch_size: int = 32, weights: Any = "default",
              num_classes: int | None = None, model_kwargs: dict[str, Any] | None = None,
              blocks: Sequence[Sequence[str]] | None = None, task: Task | None = None, verbose: int = 1) -> FitResult:
    """Fine-tune a model on new data.

    Args:
        model: A hub model name, a ``keras.Model`` or a function returning one.
        train: Training data: a dataset from :mod:`hub_core.data`, a batched ``tf.data.Dataset`` or ``(x, y)`` arrays.
        validation: Validation data in the same forms, or None.
        epochs: Total epochs (both phases of ``two_phase`` together).
        strategy: ``"two_phase"``, ``"head"`` or ``"full"`` (see the module docstring).
        unfreeze: Blocks unfrozen in the second phase, counted from the head (the head excluded).
        head_epochs: Epochs of the first phase of ``two_phase`` (default: half, at least 1).
        learning_rate: Learning rate of the head phase (and of ``"head"``/``"full"``).
        fine_tune_learning_rate: Learning rate of the second phase (default ``learning_rate / 10``).
        layer_decay: Multiply the learning rate by ``layer_decay ** k`` for the k-th unfrozen block below the head.
        optimizer: Optimizer name, ``keras.optimizers.Optimizer`` (its config is reused per phase) or
            function ``(model, learning_rate) -> Optimizer``.
        schedule: None (constant), ``"cosine"`` or a ``keras.optimizers.schedules.LearningRateSchedule``.
        label_smoothing: Label smoothing of the classification loss.
        batchnorm: ``"frozen"`` keeps BatchNorm layers in inference mode while fine-tuning; ``"train"`` updates them.
        precision: Builder precision for hub models (``"auto"``, ``"float32"``, ``"bfloat16"``).
        mixed_precision: Shortcut: True means ``precision="bfloat16"``, False ``"float32"``.
        callbacks: Extra Keras callbacks.
        run_dir: Run directory (checkpoints, best/final model, metrics, plot, logs); None writes nothing.
        resume: Continue from the last complete checkpoint in ``run_dir``; False starts afresh,
            discarding the directory's checkpoints and its best-model record.
        cache_features: ``"auto"``, True or False (see the module docstring).
        seed: Seed of initialisation, shuffling and augmentation.
        distribution: ``"auto"``, None or a ``tf.distribute.Strategy``.
        checkpoint_every: Also checkpoint every N training steps (epoch ends always checkpoint).
        batch_size: Batch size used when ``train`` is given as arrays.
        weights: Weights of a named model (``"default"``, None, a set name or a path).
        num_classes: Classes of the new head; defaults to the data's class names or labels.
        model_kwargs: Extra builder options for a named model.
        blocks: Layer-name groups from input to output; defaults to the plugin's ``blocks(model)``.
        task: Loss/metrics hook; defaults to the model's ``hub_task`` attribute or inference.
        verbose: 0 silent, 1 progress bars.

    Returns:
        A :class:`FitResult`.

    Raises:
        InvalidArgumentError: For unknown strategies or conflicting arguments.
        DataError: For unusable data.
    """
    options = dict(locals())
    return _Run(options).run()


def train(model: Any, train: Any, validation: Any = None, *, epochs: int = 10, learning_rate: float = 1e-3,
          weights: Any = None, **kwargs: Any) -> FitResult:
    """Train a model from scratch with the same loop as :func:`fine_tune` (``strategy="full"``).

    Args:
        model: A hub model name, a ``keras.Model`` or a function returning one.
        train: Training data (see :func:`fine_tune`).
        validation: Validation data or None.
        epochs: Epochs.
        learning_rate: Learning rate.
        weights: Initial weights of a named model (None: random initialisation).
        **kwargs: Any other :func:`fine_tune` argument.

    Returns:
        A :class:`FitResult`.
    """
    if kwargs.get("strategy", "full") != "full":
        raise InvalidArgumentError("hub.train always trains every layer; use hub.fine_tune for strategy='head' or 'two_phase'.")
    kwargs["strategy"] = "full"
    return fine_tune(model, train, validation, epochs=epochs, learning_rate=learning_rate, weights=weights, **kwargs)


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

    model = _open(model)
    dataset = _as_dataset(data, batch_size=batch_size, training=False)
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


def predict(model: Any, inputs: Any, *, top_k: int = 5, batch_size: int = 32, image_size: Sequence[int] | None = None):
    """Predict with a model or run directory.

    Args:
        model: A ``keras.Model``, a run directory or a ``.keras`` file.
        inputs: Image paths (decoded and resized like :func:`hub_core.data.image_folder`), an array batch,
            or a dataset.
        top_k: How many classes to list per input (classifiers).
        batch_size: Batch size.
        image_size: Size to resize image files to; defaults to the model's input size.

    Returns:
        For a single-output classifier: one dict per input with ``label``, ``index``, ``score``
        and ``top`` (``[(label, score), ...]``), labels from the run's class names. Otherwise the
        model's raw outputs (numpy).
    """
    import numpy as np

    model = _open(model)
    if isinstance(inputs, (str, os.PathLike)) or (isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], (str, os.PathLike))):
        inputs = _read_images([inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs), model, image_size)
    outputs = model.predict(inputs, batch_size=batch_size, verbose=0) if not hasattr(inputs, "element_spec") else model.predict(inputs, verbose=0)
    if isinstance(outputs, (list, tuple, dict)) or np.ndim(outputs) != 2 or np.shape(outputs)[-1] < 2:
        return outputs
    names = list(getattr(model, "class_names", None) or ()) or [str(i) for i in range(outputs.shape[-1])]
    results = []
    for row in outputs:
        order = np.argsort(-row)[:top_k]
        results.append({
            "label": names[order[0]],
            "index": int(order[0]),
            "score": float(row[order[0]]),
            "top": [(names[i], float(row[i])) for i in order],
        })
    return results


# --- the run -------------------------------------------------------------
class _Run:
    """State of one fine_tune/train call."""

    def __init__(self, options: dict[str, Any]):
        self.o = options
        self.started = time.time()
        if options["strategy"] not in STRATEGIES:
            raise InvalidArgumentError(f"strategy must be one of {', '.join(STRATEGIES)}, not {options['strategy']!r}.")
        if options["batchnorm"] not in ("frozen", "train"):
            raise InvalidArgumentError(f"batchnorm must be 'frozen' or 'train', not {options['batchnorm']!r}.")
        if int(options["epochs"]) < 1:
            raise InvalidArgumentError(f"epochs must be at least 1, not {options['epochs']}.")
        if options["mixed_precision"] is not None:
            options["precision"] = "bfloat16" if options["mixed_precision"] else "float32"
        self.plugin = None
        self.plugin_name = None
        self.model_name = options["model"] if isinstance(options["model"], str) else None

    # --- set-up ------------------------------------------------------------
    def run(self) -> FitResult:
        import keras

        self.strategy = _resolve_distribution(self.o["distribution"])
        keras.utils.set_random_seed(int(self.o["seed"]))
        self.chief = _is_chief(self.strategy)
        self.train_pipe, self.train_ds = _pipeline_or_dataset(self.o["train"], self.o["batch_size"], self.o["seed"], True)
        self.val_pipe, self.val_ds = (None, None)
        if self.o["validation"] is not None:
            self.val_pipe, self.val_ds = _pipeline_or_dataset(self.o["validation"], self.o["batch_size"], self.o["seed"], False)
        self.steps_per_epoch = self.train_pipe.steps_per_epoch if self.train_pipe else _cardinality(self.train_ds)
        self.class_names = tuple(getattr(self.train_pipe, "class_names", ()) or getattr(self.o["train"], "class_names", ()) or ())
        self.run_dir = self._open_run_dir()
        with _scope(self.strategy):
            self.model = self._build_model()
        self.task = self.o["task"] or getattr(self.model, "hub_task", None) or Task()
        self.blocks = self._blocks()
        self.phases = self._phases()
        return self._loop()

    def _open_run_dir(self) -> runs.RunDir | None:
        path = self.o["run_dir"]
        if path is None:
            return None
        if not self.chief:
            path = tempfile.mkdtemp(prefix="hub-worker-")
        run = runs.RunDir(path)
        config = {k: _describe(v) for k, v in self.o.items() if k not in ("train", "validation", "callbacks")}
        previous = runs.read_json(run / runs.RUN_CONFIG)
        if previous and self.o["resume"] and previous.get("arguments") != config:
            changed = sorted(k for k in config if previous.get("arguments", {}).get(k) != config[k])
            warnings.warn(f"Resuming {path} with changed arguments: {', '.join(changed)}.", stacklevel=3)
        if not self.o["resume"]:
            run.reset()
        return run

    def _build_model(self):
        import keras

        model = self.o["model"]
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

        self.plugin_name, variant = catalog.resolve(name)
        self.plugin = registry.get_plugin(self.plugin_name)
        classes = self.o["num_classes"] or len(self.class_names) or _count_classes(self.train_pipe)
        if not classes:
            raise InvalidArgumentError(f"Cannot tell how many classes to train {name} for; pass num_classes=.")
        kwargs = dict(self.o["model_kwargs"] or {})
        shape = _input_shape_of(self.train_pipe, self.train_ds)
        if shape and "input_shape" not in kwargs:
            kwargs["input_shape"] = shape
        if "preprocessing" not in self.plugin.capabilities:
            return api.load(name, weights=self.o["weights"], **{"classes": classes, **kwargs})
        # hub_core.vision image models: preprocessing inside, a new classifier for our classes
        kwargs = {"include_preprocessing": True, "precision": self.o["precision"], **kwargs}
        ref = api.resolve_weights(self.plugin_name, variant, self.o["weights"])
        if ref is not None and ref.weight_set is not None and ref.weight_set.num_classes is None:
            # backbone-only weights (e.g. vgg16 hed_bsds500): pooled backbone plus a new classifier
            backbone = api.load(name, weights=self.o["weights"], include_top=False, pooling="avg", **kwargs)
            return _with_classifier(backbone, classes)
        return api.load(name, weights=self.o["weights"], include_top=True, num_classes=classes, **kwargs)

    def _blocks(self) -> list[list[str]]:
        if self.o["blocks"]:
            return [list(b) for b in self.o["blocks"]]
        if self.plugin is not None:
            return [list(b) for b in self.plugin.blocks(self.model)]
        return [[layer.name] for layer in self.model.layers if layer.weights]

    def _phases(self) -> list[dict[str, Any]]:
        """``[{"name", "epochs": (start, stop), "trainable": layer names or None, "lr"}]``."""
        epochs, strategy, lr = int(self.o["epochs"]), self.o["strategy"], float(self.o["learning_rate"])
        head = _head_layers(self.model, self.blocks[-1]) if strategy != "full" else []
        if strategy == "full":
            return [{"name": "full", "epochs": (0, epochs), "trainable": None, "lr": lr, "decay": {}}]
        if strategy == "head":
            return [{"name": "head", "epochs": (0, epochs), "trainable": head, "lr": lr, "decay": {}}]
        head_epochs = self.o["head_epochs"] or max(1, epochs // 2)
        if not 0 < head_epochs < epochs:
            raise InvalidArgumentError(
                f"two_phase needs head_epochs between 1 and epochs - 1 (got head_epochs={head_epochs}, epochs={epochs}); "
                "use strategy='head' for a single phase."
            )
        unfrozen = self.blocks[-1 - int(self.o["unfreeze"]):-1] if int(self.o["unfreeze"]) > 0 else []
        decay = {}
        for depth, block in enumerate(reversed(unfrozen), start=1):
            for layer_name in block:
                decay[layer_name] = 1.0 if self.o["layer_decay"] is None else float(self.o["layer_decay"]) ** depth
        trainable = head + [name for block in unfrozen for name in block]
        second_lr = self.o["fine_tune_learning_rate"] or lr / 10
        return [
            {"name": "head", "epochs": (0, head_epochs), "trainable": head, "lr": lr, "decay": {}},
            {"name": "fine_tune", "epochs": (head_epochs, epochs), "trainable": trainable, "lr": second_lr, "decay": decay},
        ]

    # --- the loop ----------------------------------------------------------
    def _loop(self) -> FitResult:
        history: dict[str, list[float]] = {}
        start = {"epoch": 0, "step": 0, "global_step": 0}
        restored = None
        if self.run_dir is not None:
            self._write_static_files()
            if self.o["resume"]:
                restored = self.run_dir.latest_checkpoint()
                if restored:
                    start = {k: int(restored[0][k]) for k in ("epoch", "step", "global_step")}
                    metrics = runs.read_json(self.run_dir / runs.METRICS, {}) or {}
                    history = {k: v[: start["epoch"]] for k, v in metrics.get("history", {}).items()}
        self.history = history
        self.global_step = start["global_step"]
        self.stop_requested = False
        self.user_callbacks = [_run_scoped_class()(c) for c in self.o["callbacks"]]
        for index, phase in enumerate(self.phases):
            first, stop = phase["epochs"]
            if start["epoch"] >= stop:
                continue
            trainer, elements = self._prepare_phase(phase)
            metric_state = None
            if restored is not None:
                metric_state = self._restore(trainer, restored[1], phase, resumed_in_phase=start["epoch"] > first or start["step"] > 0)
                restored = None
            for epoch in range(max(first, start["epoch"]), stop):
                skip = start["step"] if epoch == start["epoch"] else 0
                self._run_epoch(trainer, phase, epoch, skip, elements, metric_state if skip else None)
                metric_state = None
                if self.stop_requested:  # e.g. keras.callbacks.EarlyStopping
                    return self._finish(start)
        return self._finish(start)

    def _prepare_phase(self, phase: dict[str, Any]):
        """Set trainable flags, pick the trainer (full model or cached head) and compile it."""
        import keras

        _set_trainable(self.model, phase["trainable"], self.o["batchnorm"])
        trainer, elements = self.model, None
        if phase["trainable"] is not None and self._cache_allowed(phase):
            split = _split_head(self.model, phase["trainable"])
            if split is not None:
                features_at, head_model = split
                elements = self._features(features_at)
                trainer = head_model
        with _scope(self.strategy):
            optimizer = _make_optimizer(self.o["optimizer"], trainer, phase["lr"], self.o["schedule"],
                                        self._phase_steps(phase), plugin=self.plugin)
            _apply_layer_decay(optimizer, trainer, phase["decay"])
            sample = _sample_targets(self.train_pipe, self.train_ds)
            self.task.compile(trainer, optimizer, sample_targets=sample, label_smoothing=float(self.o["label_smoothing"]))
            if self.strategy is not None:
                _build_before_fit(trainer, self.train_pipe, self.train_ds, elements)
        if self.o["verbose"]:
            trainable = sum(int(keras.ops.size(v)) for v in trainer.trainable_variables)
            where = "cached features" if elements is not None else "the full model"
            print(f"hub: phase '{phase['name']}': epochs {phase['epochs'][0] + 1}-{phase['epochs'][1]}, "
                  f"{trainable:,} trainable parameters, learning rate {phase['lr']:g}, through {where}")
        return trainer, elements

    def _phase_steps(self, phase: dict[str, Any]) -> int:
        return max(1, self.steps_per_epoch * (phase["epochs"][1] - phase["epochs"][0]))

    def _cache_allowed(self, phase: dict[str, Any]) -> bool:
        wanted = self.o["cache_features"]
        if wanted is False or wanted is None:
            return False
        problems = []
        if self.train_pipe is None:
            problems.append("the training data is not a hub_core.data pipeline")
        elif self.train_pipe.augment is not None:
            problems.append("the training data is augmented")
        if self.o["validation"] is not None and self.val_pipe is None:
            problems.append("the validation data is not a hub_core.data pipeline")
        if self.strategy is not None:
            problems.append("training is distributed")
        head = set(phase["trainable"])
        stochastic = [l.name for l in self.model.layers if l.name not in head and type(l).__name__ in STOCHASTIC_LAYERS]
        if stochastic:
            problems.append(f"the frozen backbone has stochastic layers ({', '.join(stochastic)})")
        if problems and wanted is True:
            raise InvalidArgumentError(f"cache_features=True is not possible: {'; '.join(problems)}.")
        return not problems

    def _features(self, features_at):
        """Backbone features of the training (and validation) elements, cached in memory and on disk."""
        import keras

        backbone = keras.Model(self.model.inputs, features_at)
        digest = hashlib.sha256()
        for weight in backbone.weights:
            digest.update(weight.path.encode())
            digest.update(keras.ops.convert_to_numpy(weight).tobytes())
        weights_hash = digest.hexdigest()
        result = {}
        for part, pipe in (("train", self.train_pipe), ("validation", self.val_pipe)):
            if pipe is None:
                continue
            key = hashlib.sha256(f"{weights_hash}:{pipe.fingerprint}:{_describe(pipe.preprocess)}:{features_at.name}".encode()).hexdigest()[:24]
            result[part] = _cached_features(backbone, pipe, key, self.run_dir, self.o["verbose"])
        return result

    def _restore(self, trainer, arrays: dict[str, Any], phase: dict[str, Any], resumed_in_phase: bool):
        """Load a checkpoint's model, optimizer and metric variables; return the metric state."""
        _assign(self.model.variables, arrays, "m")
        if resumed_in_phase:
            optimizer = trainer.optimizer
            optimizer.build(trainer.trainable_variables)
            if not _assign(optimizer.variables, arrays, "o", strict=False):
                warnings.warn("The checkpoint's optimizer state does not fit this run; the optimizer starts afresh.", stacklevel=2)
            elif self.o["schedule"] in (None, "constant"):
                optimizer.learning_rate = phase["lr"]  # a restart may change the learning rate
        if self.o["verbose"]:
            print(f"hub: resumed from {self.run_dir.path} at epoch {int(arrays['epoch']) + 1}, step {int(arrays['step'])}")
        return {k: v for k, v in arrays.items() if k.startswith("k")}

    def _run_epoch(self, trainer, phase, epoch: int, skip: int, elements, metric_state) -> None:
        train_data = self.train_pipe.epoch(epoch, skip=skip, elements=elements and elements.get("train")) if self.train_pipe else self.train_ds.skip(skip)
        val_data = None
        if self.val_pipe is not None:
            val_data = self.val_pipe.epoch(0, elements=elements and elements.get("validation"))
        elif self.val_ds is not None:
            val_data = self.val_ds
        callbacks = list(self.user_callbacks)
        if self.run_dir is not None:
            import keras

            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(self.run_dir / runs.LOGS), write_graph=False, profile_batch=0))
        # last, so it sees a stop asked by the others; it ends fit after this one epoch
        callbacks.append(_epoch_state_class()(self, trainer, phase, epoch, skip, metric_state))
        history = trainer.fit(train_data, validation_data=val_data, epochs=int(self.o["epochs"]), initial_epoch=epoch,
                              callbacks=callbacks, verbose=self.o["verbose"], shuffle=False)
        if not history.history:
            raise DataError("The training data yielded no batch; check that it is not empty.")

    def _end_epoch(self, trainer, phase, epoch: int, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        if self.run_dir is None:
            return
        monitor = self.task.monitor or ("val_loss" if "val_loss" in logs else "loss")
        if monitor in logs:
            self.run_dir.offer_best(self.model, monitor, self.task.mode, float(logs[monitor]), epoch + 1)
        runs.write_json(self.run_dir / runs.METRICS, {"history": self.history, "best": self.run_dir.best()})
        self._checkpoint(trainer, phase, epoch + 1, 0)

    def _checkpoint(self, trainer, phase, epoch: int, step: int, metric_values: Sequence[Any] = ()) -> None:
        import keras

        arrays = {f"m{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(self.model.variables)}
        if trainer.optimizer is not None and trainer.optimizer.built:
            arrays.update({f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(trainer.optimizer.variables)})
        arrays.update({f"k{i}": v for i, v in enumerate(metric_values)})
        arrays.update(epoch=epoch, step=step)
        state = {"epoch": epoch, "step": step, "global_step": self.global_step, "phase": phase["name"]}
        self.run_dir.save_checkpoint(state, arrays)

    def _write_static_files(self) -> None:
        run = self.run_dir
        runs.write_json(run / runs.RUN_CONFIG, {
            "model": self.model_name or getattr(self.model, "name", None),
            "plugin": self.plugin_name,
            "arguments": {k: _describe(v) for k, v in self.o.items() if k not in ("train", "validation", "callbacks")},
            "hub_core": __import__("hub_core").__version__,
        })
        runs.write_json(run / runs.CLASS_NAMES, list(self.class_names))
        shape = _input_shape_of(self.train_pipe, self.train_ds)
        runs.write_json(run / runs.PREPROCESSING, {
            "input_shape": list(shape) if shape else None,
            "input_range": [0, 255],
            "resize": "bilinear",
            "preprocessing_in_model": self.train_pipe is None or self.train_pipe.preprocess is None,
            "pipeline_preprocess": _describe(self.train_pipe.preprocess) if self.train_pipe else None,
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
        skipped = self._skipped_files()
        result = FitResult(
            model=self.model, history=self.history, best=best, final=final,
            run_dir=self.run_dir.path if self.run_dir is not None and self.chief else None,
            resumed_from={"epoch": start["epoch"], "step": start["step"]} if start["epoch"] or start["step"] else None,
            skipped_files=skipped, wall_time=time.time() - self.started,
        )
        if self.o["verbose"] and result.run_dir:
            print(f"hub: run saved to {result.run_dir}")
        return result


@functools.lru_cache(maxsize=None)
def _run_scoped_class():
    import keras

    class RunScoped(keras.callbacks.Callback):
        """Forwards every hook to a user callback, but begins and ends training once per run.

        The loop calls ``fit`` once per epoch; without this, stateful callbacks
        (``EarlyStopping``, ``ReduceLROnPlateau``) would reset every epoch.
        """

        def __init__(self, inner):
            super().__init__()
            self.inner, self.began = inner, False

        def set_model(self, model):
            super().set_model(model)
            self.inner.set_model(model)

        def set_params(self, params):
            super().set_params(params)
            self.inner.set_params(params)

        def on_train_begin(self, logs=None):
            if not self.began:
                self.began = True
                self.inner.on_train_begin(logs)

        def on_train_end(self, logs=None):
            """Ends with the run (:meth:`end_run`), not with each epoch's ``fit``."""

        def end_run(self):
            if self.began:
                self.inner.on_train_end({})

    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_begin",
                 "on_test_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
                 "on_predict_batch_begin", "on_predict_batch_end"):
        setattr(RunScoped, hook, lambda self, *args, _hook=hook, **kwargs: getattr(self.inner, _hook)(*args, **kwargs))
    return RunScoped


@functools.lru_cache(maxsize=None)
def _epoch_state_class():
    import keras
    import numpy as np

    class EpochState(keras.callbacks.Callback):
        """Restores metric state, counts steps, checkpoints every N steps and at the epoch end."""

        def __init__(self, run: _Run, trainer, phase, epoch: int, skip: int, metric_state):
            super().__init__()
            self.run, self.trainer, self.phase = run, trainer, phase
            self.epoch, self.skip, self.metric_state = epoch, skip, metric_state

        def on_train_batch_end(self, batch, logs=None):
            if self.metric_state:
                self._add_metric_state()
            run = self.run
            run.global_step += 1
            every = run.o["checkpoint_every"]
            done = self.skip + batch + 1
            if run.run_dir is None or not every or run.global_step % int(every) or done >= run.steps_per_epoch:
                return
            values = [keras.ops.convert_to_numpy(v) for v in self.trainer.metrics_variables]
            run._checkpoint(self.trainer, self.phase, self.epoch, done, values)

        def _add_metric_state(self):
            """Add the checkpoint's metric accumulators (sums and counts) to those of the first step.

            Metrics are built when the first step is traced, so the state of a
            resumed epoch is restored additively after that step.
            """
            values = [self.metric_state[f"k{i}"] for i in range(len(self.metric_state))]
            variables = self.trainer.metrics_variables
            self.metric_state = None
            if len(values) != len(variables) or any(tuple(v.shape) != np.shape(a) for v, a in zip(variables, values)):
                warnings.warn("The checkpoint's metric state does not fit; this epoch's metrics cover the resumed steps only.", stacklevel=2)
                return
            for variable, value in zip(variables, values):
                variable.assign_add(value)

        def on_epoch_end(self, epoch, logs=None):
            self.run.stop_requested = bool(self.trainer.stop_training)
            self.run._end_epoch(self.trainer, self.phase, epoch, dict(logs or {}))
            self.trainer.stop_training = True  # the loop calls fit once per epoch

    return EpochState


# --- helpers: data -----------------------------------------------------------
def _pipeline_or_dataset(data: Any, batch_size: int, seed: int, training: bool):
    """``(pipeline, dataset)`` for training data given in any accepted form."""
    from hub_core import data as hub_data

    pipeline = hub_data.pipeline_of(data)
    if pipeline is not None:
        return pipeline, data
    if isinstance(data, (tuple, list)) and len(data) == 2 and not hasattr(data, "element_spec"):
        dataset = hub_data.from_arrays(data[0], data[1], batch_size=batch_size, seed=seed, shuffle=training)
        return hub_data.pipeline_of(dataset), dataset
    if hasattr(data, "element_spec"):
        return None, data
    raise DataError(
        f"Training data must be a hub_core.data dataset, a batched tf.data.Dataset or (x, y) arrays, not {type(data).__name__}."
    )


def _as_dataset(data: Any, *, batch_size: int, training: bool):
    pipeline, dataset = _pipeline_or_dataset(data, batch_size, 0, training)
    return pipeline.epoch(0, augment=False) if pipeline is not None else dataset


def _cardinality(dataset) -> int:
    count = int(dataset.cardinality())
    return count if count >= 0 else 1 << 62


def _count_classes(pipeline) -> int:
    """Number of classes of integer labels (max + 1), or 0 when the targets are not class ids."""
    import numpy as np

    if pipeline is None:
        return 0
    spec = pipeline.elements.element_spec[1]
    if not hasattr(spec, "dtype") or not spec.dtype.is_integer or spec.shape.rank != 0:
        return 0
    labels = np.fromiter((int(y) for _, y in pipeline.elements.as_numpy_iterator()), dtype=np.int64)
    return int(labels.max()) + 1 if labels.size else 0


def _input_shape_of(pipeline, dataset) -> tuple | None:
    spec = (pipeline.elements.element_spec[0] if pipeline is not None else dataset.element_spec[0])
    if not hasattr(spec, "shape"):
        return None
    shape = tuple(spec.shape) if pipeline is not None else tuple(spec.shape[1:])
    return shape if shape and all(d is not None for d in shape) else None


def _sample_targets(pipeline, dataset):
    """One batch of targets (numpy), used to infer the loss."""
    source = pipeline.epoch(0, augment=False) if pipeline is not None else dataset
    for _, targets in source.take(1).as_numpy_iterator():
        return targets
    raise DataError("The training data is empty; pass at least one example.")


def _cached_features(backbone, pipeline, key: str, run_dir, verbose: int):
    """Backbone outputs of ``pipeline``'s elements (in order) as a dataset; disk cache under the run dir."""
    import keras
    import numpy as np
    import tensorflow as tf

    file = run_dir / "feature_cache" / f"{key}.npz" if run_dir is not None else None
    if file is not None and file.exists():
        with np.load(file) as archive:
            features, targets = archive["features"], [archive[f"t{i}"] for i in range(len(archive.files) - 1)]
    else:
        inputs = pipeline.elements.batch(256).map(pipeline._finish)
        features = backbone.predict(inputs.map(lambda x, y: x), verbose=verbose)
        batches = [y for _, y in pipeline.elements.batch(4096).as_numpy_iterator()]
        targets = [np.concatenate([keras.tree.flatten(b)[i] for b in batches]) for i in range(len(keras.tree.flatten(batches[0])))]
        if file is not None:
            with runs.atomic_path(file) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, features=features, **{f"t{i}": t for i, t in enumerate(targets)})
    structure = pipeline.elements.element_spec[1]
    packed = keras.tree.pack_sequence_as(structure, targets)
    return tf.data.Dataset.from_tensor_slices((features, packed))


def _read_images(paths: list, model, image_size) -> Any:
    import numpy as np

    from hub_core import data as hub_data

    size, channels = hub_data.input_geometry(model, image_size, None)
    images = []
    for path in paths:
        if not pathlib.Path(path).is_file():
            raise DataError(f"Image file {path} does not exist; check the path.")
        images.append(hub_data.read_image(str(path), size, channels))
    return np.stack(images).astype("float32")


# --- helpers: model ----------------------------------------------------------
def _open(model: Any):
    import keras

    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)) and pathlib.Path(model).exists():
        return runs.open_saved(model)
    raise InvalidArgumentError(f"Expected a keras.Model, a run directory or a .keras file, not {model!r}.")


def _with_classifier(backbone, classes: int):
    """``backbone`` followed by a new softmax classifier named ``predictions``."""
    import keras

    outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32", name="predictions")(backbone.output)
    inputs = backbone.inputs[0] if len(backbone.inputs) == 1 else backbone.inputs
    return keras.Model(inputs, outputs, name=backbone.name)


def _head_layers(model, last_block: Sequence[str]) -> list[str]:
    """The head: the last block plus stochastic layers (dropout) that feed it directly."""
    head = list(last_block)
    names = [layer.name for layer in model.layers]
    first = min(names.index(n) for n in head if n in names)
    for layer in reversed(model.layers[:first]):
        if type(layer).__name__ not in STOCHASTIC_LAYERS:
            break
        head.insert(0, layer.name)
    return head


def _set_trainable(model, trainable: Sequence[str] | None, batchnorm: str) -> None:
    """Freeze every layer not named in ``trainable`` (None: all trainable); BatchNorm per ``batchnorm``."""
    model.trainable = True
    if trainable is None and batchnorm == "train":
        return
    names = set(trainable) if trainable is not None else None
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        on = names is None or layer.name in names
        layer.trainable = on
        if on and batchnorm == "frozen":
            for sub in _sublayers(layer):
                if "BatchNormalization" in type(sub).__name__:
                    sub.trainable = False


def _sublayers(layer) -> list:
    found = [layer]
    for sub in direct_sublayers(layer):
        found += _sublayers(sub)
    return found


def _split_head(model, head: Sequence[str]):
    """``(feature tensor, head model)`` when the head is a separable tail of a functional model, else None."""
    import keras

    if not is_functional(model) or len(model.inputs) != 1:
        return None
    names = [layer.name for layer in model.layers]
    first = model.layers[min(names.index(n) for n in head if n in names)]
    if inbound_call_count(first) != 1:
        return None
    features_at = first.input
    if isinstance(features_at, (list, tuple)) or features_at is model.inputs[0]:
        return None
    try:
        head_model = keras.Model(features_at, model.outputs, name=f"{model.name}_head")
    except Exception:
        return None
    if {layer.name for layer in head_model.layers if type(layer).__name__ != "InputLayer"} - set(head):
        return None
    return features_at, head_model


def _assign(variables, arrays: dict[str, Any], prefix: str, strict: bool = True) -> bool:
    values = [arrays[f"{prefix}{i}"] for i in range(len(variables)) if f"{prefix}{i}" in arrays]
    count = sum(1 for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit())
    if count != len(variables) or any(tuple(v.shape) != tuple(a.shape) for v, a in zip(variables, values)):
        if strict:
            raise DataError(
                f"The checkpoint holds {count} {prefix!r} arrays that do not fit the model's {len(variables)} variables; "
                "resume with the same model and arguments, or start a new run directory (resume=False)."
            )
        return False
    for variable, value in zip(variables, values):
        variable.assign(value)
    return True


# --- helpers: optimisation ---------------------------------------------------
def check_optimizer(model: str, name: str) -> None:
    """Fail now, as training would later, when ``optimizer=name`` means nothing for hub model ``model``.

    A name means the model's plugin's optimizer of that name
    (:meth:`~hub_core.hub.plugin.ModelPlugin.optimizer`, declared as capability
    ``"optimizer:NAME"``), else the Keras optimizer of that name.

    Raises:
        InvalidArgumentError: When neither offers ``name``, saying which plugins do.
    """
    import keras

    from hub_core.hub import catalog, registry
    from hub_core.hub.plugin import optimizer_names

    plugin_name, _ = catalog.resolve(model)
    if name in optimizer_names(registry.get_plugin(plugin_name).capabilities):
        return
    try:
        keras.optimizers.get(name)
    except ValueError:
        raise _unknown_optimizer(name, plugin_name, model) from None


def _unknown_optimizer(name: str, plugin_name: str | None, model: str | None) -> InvalidArgumentError:
    from hub_core.hub import catalog
    from hub_core.hub.plugin import optimizer_names

    offering = {other: sorted(entry["variants"]) for other, entry in catalog.entries().items()
                if name in optimizer_names(entry["capabilities"])}
    if offering:
        models = ", ".join(f"{', '.join(variants)} (plugin {other})" for other, variants in sorted(offering.items()))
        where = f"it is offered for {models}, so train one of those with it or pass"
    else:
        where = "no installed plugin offers it, so pass"
    owner = f"an optimizer of plugin '{plugin_name}' (model {model})" if plugin_name else "an optimizer of this model's plugin"
    return InvalidArgumentError(
        f"Optimizer {name!r} is neither {owner} nor a Keras optimizer; {where} a Keras optimizer name such as 'adam' or 'sgd'."
    )


def _plugin_optimizer(plugin, name: str, learning_rate):
    """``plugin.optimizer(name)`` at ``learning_rate``; a plugin that declares it must return one."""
    optimizer = plugin.optimizer(name, learning_rate=learning_rate)
    if optimizer is None:
        raise PluginError(
            f"Plugin '{plugin.name}' declares the capability 'optimizer:{name}' but its optimizer() returned None; "
            "fix the plugin (the conformance kit's check_named_optimizers shows it) or pick another optimizer."
        )
    return optimizer


def _make_optimizer(spec: Any, model, learning_rate: float, schedule: Any, total_steps: int, plugin=None):
    import keras

    from hub_core.hub.plugin import optimizer_names

    rate = _schedule(schedule, learning_rate, total_steps)
    if isinstance(spec, keras.optimizers.Optimizer):
        config = spec.get_config()
        config["learning_rate"] = rate
        return type(spec).from_config(config)
    if isinstance(spec, str):
        if plugin is not None and spec in optimizer_names(plugin.capabilities):
            return _plugin_optimizer(plugin, spec, rate)
        try:
            optimizer = keras.optimizers.get(spec)
        except ValueError:
            raise _unknown_optimizer(spec, plugin.name if plugin else None, None) from None
        config = optimizer.get_config()
        config["learning_rate"] = rate
        return type(optimizer).from_config(config)
    if callable(spec):
        return spec(model, rate)
    raise InvalidArgumentError(f"optimizer must be a name, a keras Optimizer or a function, not {type(spec).__name__}.")


def _schedule(schedule: Any, learning_rate: float, total_steps: int):
    import keras

    if schedule is None or schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule
    raise InvalidArgumentError(f"schedule must be None, 'constant', 'cosine' or a LearningRateSchedule, not {schedule!r}.")


def _apply_layer_decay(optimizer, model, multipliers: dict[str, float]) -> None:
    """Scale the learning rate per variable by its layer's multiplier (discriminative learning rates).

    The optimizer instance's ``update_step`` is wrapped, so it keeps its class
    and configuration.
    """
    if not multipliers or all(m == 1.0 for m in multipliers.values()):
        return
    scale = {}
    for layer in model.layers:
        factor = multipliers.get(layer.name, 1.0)
        if factor != 1.0:
            for variable in layer.trainable_variables:
                scale[variable_key(optimizer, variable)] = factor
    inner = optimizer.update_step

    def update_step(gradient, variable, learning_rate):
        factor = scale.get(variable_key(optimizer, variable), 1.0)
        return inner(gradient, variable, learning_rate * factor if factor != 1.0 else learning_rate)

    optimizer.update_step = update_step


def infer_loss(model, targets, label_smoothing: float = 0.0):
    """A loss and metrics for ``model`` from a sample batch of ``targets``.

    Args:
        model: The model (its outputs' shapes and activations are read).
        targets: One batch of targets (numpy; a list/dict for multi-output models).
        label_smoothing: Label smoothing for categorical losses.

    Returns:
        ``(loss, metrics)`` suitable for ``model.compile``.
    """
    import keras
    import numpy as np

    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):  # subclassed models have no symbolic outputs
        outputs = []
    flat_targets = keras.tree.flatten(targets)
    if len(flat_targets) > 1:
        shapes = [tuple(o.shape) for o in outputs] if len(outputs) == len(flat_targets) else [None] * len(flat_targets)
        losses = [_single_loss(np.asarray(t), s, label_smoothing)[0] for t, s in zip(flat_targets, shapes)]
        metrics = [_single_loss(np.asarray(t), s, label_smoothing)[1] for t, s in zip(flat_targets, shapes)]
        if isinstance(targets, dict):
            return dict(zip(targets, losses)), dict(zip(targets, metrics))
        return losses, metrics
    shape = tuple(outputs[0].shape) if outputs else None
    return _single_loss(np.asarray(flat_targets[0]), shape, label_smoothing)


def _single_loss(targets, output_shape, label_smoothing: float):
    import keras
    import numpy as np

    units = output_shape[-1] if output_shape else None
    integer = np.issubdtype(targets.dtype, np.integer)
    if units in (None, 1) and targets.ndim <= 2 and set(np.unique(targets)).issubset({0, 1}):
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing), ["binary_accuracy"]
    if integer and output_shape is not None and targets.ndim == len(output_shape) - 1:
        if label_smoothing:
            return _smoothed_sparse_loss(label_smoothing, units), [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if units and units > 5 and targets.ndim == 1:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"))
        if targets.ndim > 1:
            metrics.append(_exact_match_metric())
        return keras.losses.SparseCategoricalCrossentropy(), metrics
    if targets.ndim >= 2 and set(np.unique(targets)).issubset({0, 1}) and not np.all(targets.sum(-1) == 1):
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing), ["binary_accuracy", _exact_match_metric(binary=True)]
    if targets.ndim >= 2 and np.allclose(targets.sum(-1), 1):
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing), [keras.metrics.CategoricalAccuracy(name="accuracy")]
    return keras.losses.MeanSquaredError(), ["mean_absolute_error"]


def _smoothed_sparse_loss(label_smoothing: float, units: int):
    """Categorical cross-entropy with label smoothing for integer targets."""
    import keras

    def smoothed_sparse_crossentropy(y_true, y_pred):
        one_hot = keras.ops.one_hot(keras.ops.cast(y_true, "int32"), units)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=label_smoothing)

    return smoothed_sparse_crossentropy


def _exact_match_metric(binary: bool = False):
    """Mean of examples whose every head (or label) is right: the seed's all-heads-correct accuracy."""
    import keras

    def exact_match(y_true, y_pred):
        if binary:
            right = keras.ops.equal(keras.ops.cast(y_pred > 0.5, "int32"), keras.ops.cast(y_true, "int32"))
        else:
            right = keras.ops.equal(keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32"), keras.ops.cast(y_true, "int32"))
        right = keras.ops.reshape(right, (keras.ops.shape(right)[0], -1))
        return keras.ops.cast(keras.ops.all(right, axis=-1), "float32")

    return exact_match


# --- helpers: distribution ---------------------------------------------------
def _resolve_distribution(distribution: Any):
    """None for no strategy, else a ``tf.distribute.Strategy`` (see the module docstring)."""
    if distribution is None:
        return None
    if distribution != "auto":
        if not hasattr(distribution, "scope"):
            raise InvalidArgumentError(f"distribution must be 'auto', None or a tf.distribute.Strategy, not {distribution!r}.")
        return distribution
    import tensorflow as tf

    cluster = cluster_strategy()
    if cluster is not None:
        return cluster
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return None


def _build_before_fit(trainer, pipeline, dataset, elements) -> None:
    """Build the model, loss, metrics and optimizer from one local batch, in the strategy's scope.

    Keras' own build step in ``fit`` reduces a distributed batch across
    workers, which fails under ``MultiWorkerMirroredStrategy``; building here
    first makes it unnecessary, so it is skipped for this model.
    """
    if pipeline is not None:
        source = pipeline.epoch(0, elements=elements and elements.get("train"), augment=False)
    else:
        source = dataset
    for batch in source.take(1):
        build_from_batch(trainer, batch)
    import tensorflow as tf

    if isinstance(trainer.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras averages each step's logs over workers along axis 0, which scalars lack
        # (tensorflow/tensorflow#72388): give the logs that axis.
        import keras

        for name in ("train_step", "test_step"):
            step = getattr(trainer, name)
            setattr(trainer, name, lambda data, step=step: {
                key: keras.ops.reshape(value, (1,)) for key, value in step(data).items()})


def _is_chief(strategy) -> bool:
    if strategy is None:
        return True
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def _scope(strategy):
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _describe(value: Any) -> Any:
    """A JSON-friendly description of an argument (for run.json and cache keys)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "get_config") and hasattr(value, "name") and not callable(getattr(value, "call", None)):
        return {"class": type(value).__name__, "config": _describe(value.get_config())}
    name = getattr(value, "__qualname__", None) or type(value).__name__
    return f"<{getattr(value, '__module__', '')}.{name}>"


# --- helpers: evaluation -----------------------------------------------------
def _predict_with_targets(model, dataset, verbose: int):
    """Run ``model`` over a labelled dataset; return ``(outputs, targets)`` as numpy (nested like the model)."""
    import keras
    import numpy as np

    outputs, targets = [], []
    iterator = dataset.as_numpy_iterator()
    progress = _progress(_cardinality(dataset), verbose)
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
