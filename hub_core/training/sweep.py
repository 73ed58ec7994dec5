"""``hub.sweep``: hyperparameter sweeps on Optuna, each trial an ordinary run directory.

Layout of a sweep directory::

    SWEEP_DIR/
      study.journal       Optuna's journal file storage (the default; shared by local worker processes)
      sweep.json          best parameters, value and run directory; every trial's state
      sweep.png           optimisation history and parameter importances (Optuna's matplotlib plots)
      hparams/            TensorBoard's HParams experiment config (written once)
      feature_cache/      frozen backbones' outputs, shared by the trials (see :mod:`hub_core.training.feature_cache`)
      trial-0000/         a run directory (see :mod:`hub_core.training.runs`), its logs/ with the trial's
      ...                 HParams summary, its run.json with a ``"sweep"`` record (state, params, seed)

Search spaces are :mod:`hub_core.training.search_space`'s; what a sweep writes
besides its trials (HParams, sweep.json, the table, the plot) is
:mod:`hub_core.training.sweep_results`'.

``trials`` is the study's total: every worker stops when as many trials are
complete, pruned or running. A trial whose worker died (killed, Ctrl-C) is
marked failed and queued again with the same parameters; the retry resumes the
same run directory from its last checkpoint. A trial that raised an error is
not retried: the error stops the sweep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import multiprocessing.connection
import os
import pathlib
import socket
import warnings
from typing import Any, Mapping

from hub_core.errors import DataError, InvalidArgumentError
from hub_core.training import runs
from hub_core.training.feature_cache import CACHE_DIR
from hub_core.training.options import FitOptions
from hub_core.training.search_space import Param, default_space, parse_param, parse_space, trial_options
from hub_core.training.sweep_results import (HPARAMS, JOURNAL, PLOT, SUMMARY, best_options, plot_study, read_summary,
                                             run_name, table_rows, write_hparams, write_hparams_config, write_summary)

PRUNERS = ("median", "hyperband", "none")
TASKS = ("fine_tune", "train")
# Options a sweep sets itself, per trial.
_SWEEP_OWNED = ("run_dir", "epochs", "resume", "overwrite")
__all__ = ["HPARAMS", "JOURNAL", "PLOT", "SUMMARY", "Param", "SweepResult", "default_space", "parse_param", "parse_space",
           "pruning_callback", "read_summary", "sweep", "table_rows", "trial_options"]


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` returns.

    Attributes:
        best_params: The best trial's parameter values.
        best_value: Its metric value.
        best_run_dir: Its run directory.
        best_options: Keyword arguments of ``hub.fine_tune``/``hub.train`` (with the data) that repeat the best
            trial: its parameters, the recorded seed, the epochs and the sweep's other options.
        trials: Every trial: ``{"number", "state", "params", "value", "run_dir", "seconds", "seed", "retry_of"}``.
        metric: The metric compared, and ``direction`` ("maximize" or "minimize").
        direction: See ``metric``.
        sweep_dir: The sweep directory.
    """

    best_params: dict[str, Any] | None
    best_value: float | None
    best_run_dir: pathlib.Path | None
    best_options: dict[str, Any] | None
    trials: list[dict[str, Any]]
    metric: str
    direction: str
    sweep_dir: pathlib.Path


@dataclasses.dataclass
class _Config:
    """Everything a worker process needs (picklable when the data are folders or arrays)."""

    model: Any
    train: Any
    validation: Any
    space: dict[str, Param]
    trials: int
    epochs: int
    sweep_dir: pathlib.Path
    storage: str | None
    pruner: Any
    metric: str
    direction: str
    task: str
    study_name: str
    image_size: Any
    options: dict[str, Any]
    seed: int


def sweep(model: Any, train: Any, validation: Any = None, *, space: Mapping[str, str | Param] | None = None,
          trials: int, epochs: int, sweep_dir: str | os.PathLike, workers: int = 1, storage: str | None = None,
          pruner: Any = "median", metric: str = "val_accuracy", task: str = "fine_tune", study_name: str | None = None,
          enqueue: list[dict[str, Any]] | None = None, image_size: Any = None, **train_options: Any) -> SweepResult:
    """Search hyperparameters of ``hub.fine_tune`` (or ``hub.train``) with Optuna; each trial is a run directory.

    Running the same call again continues the study: finished trials are not redone, and the trials of a
    killed worker are marked failed and retried.

    Args:
        model: A hub model name (or a ``keras.Model`` function, with ``workers=1``).
        train: Training data: an image folder (path), or any form ``hub.fine_tune`` takes (``workers=1``).
        validation: Validation data: an image folder, a fraction of the ``train`` folder to hold out, or a dataset.
        space: ``{name: spec}`` (see :func:`parse_param`); default :func:`default_space`.
        trials: Total trials of the study (complete or pruned); a finished study runs none.
        epochs: Epochs per trial.
        sweep_dir: The sweep directory (the trials' run directories, the journal storage, sweep.json).
        workers: Local worker processes.
        storage: An Optuna RDB URL (``postgresql://...``, ``mysql://...``) shared by workers on many machines;
            default: the journal file ``SWEEP_DIR/study.journal``.
        pruner: ``"median"``, ``"hyperband"``, ``"none"`` or an ``optuna.pruners.BasePruner``.
        metric: The per-epoch metric compared (its best epoch); names ending in ``loss`` are minimised.
        task: ``"fine_tune"`` or ``"train"`` (from scratch).
        study_name: The study's name in the storage (default: the sweep directory's name).
        enqueue: Parameter sets to try first (once, when the study is created), e.g. the defaults.
        image_size: ``(height, width)`` of folder images (default: the model's).
        **train_options: Other :class:`~hub_core.training.options.FitOptions` (seed, batch_size, weights...).

    Returns:
        A :class:`SweepResult`.

    Raises:
        InvalidArgumentError: For a bad space, pruner, option or worker count, or a sweep directory whose study
            was searched with other settings.
        HubError: An error of a trial (the sweep stops; that trial is not retried).

    Example:
        >>> result = hub.sweep("tiny_convnet", "digits/train", "digits/test", trials=8, epochs=3,
        ...                    sweep_dir="sweeps/digits")
        >>> hub.fine_tune("tiny_convnet", train, validation, **result.best_options)
    """
    _optuna()
    if task not in TASKS:
        raise InvalidArgumentError(f"task must be 'fine_tune' or 'train', not {task!r}.")
    if int(trials) < 1 or int(workers) < 1:
        raise InvalidArgumentError(f"trials and workers must be at least 1, not {trials} and {workers}.")
    owned = sorted(set(train_options) & set(_SWEEP_OWNED))
    if owned:
        raise InvalidArgumentError(f"hub.sweep sets {', '.join(owned)} itself for each trial; use epochs= and sweep_dir=.")
    FitOptions.from_kwargs({k: v for k, v in train_options.items()})  # a misspelt option fails now
    if validation is None:
        raise InvalidArgumentError("A sweep compares trials on held-out data; pass validation= (a folder, or the fraction "
                                   "of the training folder to hold out; --val DIR or --val-split F).")
    if workers > 1 and not (_is_path(train) and (_is_path(validation) or isinstance(validation, float))):
        raise InvalidArgumentError("Several workers load the data themselves, so pass train and validation as image "
                                   "folders (paths), or use workers=1.")
    parsed = parse_space(space) if space else default_space(model, task, int(epochs))
    root = pathlib.Path(sweep_dir)
    root.mkdir(parents=True, exist_ok=True)
    config = _Config(model=model, train=train, validation=validation, space=parsed, trials=int(trials),
                     epochs=int(epochs), sweep_dir=root, storage=storage, pruner=pruner, metric=metric,
                     direction="minimize" if metric.endswith("loss") else "maximize", task=task,
                     study_name=study_name or root.resolve().name, image_size=image_size, options=dict(train_options),
                     seed=int(train_options.get("seed", 0)))
    _make_pruner(config)  # a bad pruner fails before any trial
    study, storage = _open_study(config, sampler_seed=config.seed, enqueue=enqueue)
    write_hparams_config(config)
    try:
        if workers == 1:
            _work(config, study, storage)
        else:
            _spawn(config, int(workers))
    finally:
        study, _ = _open_study(config, sampler_seed=None)  # the workers' trials
        summary = write_summary(config, study)
    with warnings.catch_warnings():  # Optuna's plots are "experimental"; its importances warn on few trials
        warnings.simplefilter("ignore")
        plot_study(study, root / PLOT)
    best = summary["best"]
    return SweepResult(
        best_params=best and best["params"], best_value=best and best["value"],
        best_run_dir=best and pathlib.Path(best["run_dir"]), best_options=best and best_options(config, best),
        trials=summary["trials"], metric=metric, direction=config.direction, sweep_dir=root,
    )


def _optuna():
    try:
        import optuna
    except ImportError:
        raise InvalidArgumentError('Sweeps need Optuna, which is not installed; pip install "hub-core[sweep]".') from None
    # errors reach the user as one sentence from the sweep itself; Optuna's own would add a traceback per failed trial
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


# --- the study ---------------------------------------------------------------
def _storage(config: _Config):
    """The study's storage: the journal file in the sweep directory, or an RDB URL with heartbeats."""
    import optuna
    from optuna.storages import journal

    if config.storage:
        # a worker that dies stops its heartbeat; after the grace period its trial is failed (and retried here)
        return optuna.storages.RDBStorage(config.storage, heartbeat_interval=30, grace_period=120)
    path = str(config.sweep_dir / JOURNAL)
    # the O_EXCL lock file Optuna documents for processes sharing a file (NFSv3 and later too)
    return optuna.storages.JournalStorage(journal.JournalFileBackend(path, lock_obj=journal.JournalFileOpenLock(path)))


def _open_study(config: _Config, sampler_seed: int | None, enqueue: list[dict[str, Any]] | None = None):
    """Create or reopen the study; a study searched with other settings is refused.

    Returns:
        ``(study, storage)``.
    """
    import optuna

    storage = _storage(config)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    settings = {"model": str(config.model), "space": {n: p.spec() for n, p in config.space.items()},
                "metric": config.metric, "epochs": config.epochs, "task": config.task}
    study = optuna.create_study(storage=storage, study_name=config.study_name, direction=config.direction,
                                sampler=sampler, pruner=_make_pruner(config), load_if_exists=True)
    recorded = study.user_attrs.get("settings")
    if recorded is None:
        study.set_user_attr("settings", settings)
        for params in enqueue or ():
            study.enqueue_trial(params)
    elif recorded != settings:
        changed = sorted(k for k in settings if recorded.get(k) != settings[k])
        raise InvalidArgumentError(
            f"The study {config.study_name!r} in {config.storage or config.sweep_dir / JOURNAL} was searched with other "
            f"settings ({', '.join(changed)}); rerun with the same ones to continue it, or choose another --out."
        )
    return study, storage


def _make_pruner(config: _Config):
    import optuna

    pruner = config.pruner
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner in (None, "none"):
        return optuna.pruners.NopPruner()
    if pruner == "median":
        # below the median of the finished trials at the same epoch, once a quarter of the study (2 at least) has
        # finished; from the second epoch on when there are three or more (a new head's first epoch says little;
        # with 4 epochs of two_phase that is the end of the cheap first phase, before the expensive second)
        return optuna.pruners.MedianPruner(n_startup_trials=max(2, config.trials // 4),
                                           n_warmup_steps=1 if config.epochs >= 3 else 0)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.epochs, reduction_factor=3)
    raise InvalidArgumentError(f"pruner must be one of {', '.join(PRUNERS)} or an optuna pruner, not {pruner!r}.")


# --- workers -----------------------------------------------------------------
def _spawn(config: _Config, workers: int) -> None:
    """Run ``workers`` worker processes on the study and wait for them."""
    context = multiprocessing.get_context("spawn")  # TensorFlow does not survive a fork
    processes = [context.Process(target=_worker_main, args=(config, index), name=f"hub-sweep-{index}")
                 for index in range(workers)]
    for process in processes:
        process.start()
    try:
        waiting = list(processes)
        while waiting:  # reap each worker as it ends: a dead one must not linger as a zombie that looks alive
            ended = multiprocessing.connection.wait([p.sentinel for p in waiting])
            for process in [p for p in waiting if p.sentinel in ended]:
                process.join()
                waiting.remove(process)
    except KeyboardInterrupt:  # the workers got the same Ctrl-C: let them mark their trials failed
        for process in processes:
            process.join(timeout=30)
        raise
    failed = [p.name for p in processes if p.exitcode not in (0, None)]
    if not failed:
        return
    from optuna.trial import TrialState

    study, _ = _open_study(config, sampler_seed=None)
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))) < config.trials:
        raise DataError(f"Sweep worker(s) {', '.join(failed)} failed (their error is printed above); fix it and run the "
                        "same command again to continue the study.")
    warnings.warn(f"Sweep worker(s) {', '.join(failed)} died; the other workers retried their trials and completed "
                  "the study.", stacklevel=3)


def _worker_main(config: _Config, index: int) -> None:
    """A spawned worker: its own study handle and sampler seed."""
    _optuna()
    try:
        _work(config, *_open_study(config, sampler_seed=config.seed + 1 + index))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _work(config: _Config, study, storage) -> None:
    """Run trials until the study has ``config.trials`` complete, pruned or running ones."""
    from filelock import FileLock
    from optuna.trial import TrialState

    # local processes sharing the journal take turns to count and start a trial
    lock = FileLock(str(config.sweep_dir / ".claim.lock")) if not config.storage else None
    while True:
        with (lock or contextlib.nullcontext()):
            _recover(study, storage)
            counted = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
            if len(counted) >= config.trials:
                return
            # the trial is created inside optimize, under the lock; the objective releases it first
            if lock is not None:
                lock.acquire()
        try:
            study.optimize(lambda trial: _objective(config, study, trial, lock), n_trials=1, catch=(_Surplus,))
        finally:
            if lock is not None and lock.is_locked:
                lock.release()
        write_summary(config, study)


class _Surplus(Exception):
    """A trial started (without the lock, on an RDB) after the study already had its total."""


def _recover(study, storage) -> None:
    """Fail the running trials of dead local workers; queue again each failed trial that did not raise an error."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("worker") or {}
        if owner.get("host") == host and not _alive(int(owner.get("pid", 0))):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, "killed", True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials if not t.user_attrs.get("surplus")}
    for trial in trials:
        if (trial.state == TrialState.FAIL and trial.number not in retried and "error" not in trial.user_attrs
                and not trial.user_attrs.get("surplus")):
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, "run": run_name(trial)})


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # Linux: the state follows the command's closing parenthesis
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _objective(config: _Config, study, trial, lock) -> float:
    """Train one trial as an ordinary run; report each epoch to the pruner."""
    import optuna
    from optuna.trial import TrialState

    if lock is not None and lock.is_locked:
        lock.release()
    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
    name = run_name(trial)
    trial.set_user_attr("run", name)
    trial.set_user_attr("seed", config.seed)
    ahead = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    if sum(t.number < trial.number for t in ahead) >= config.trials:
        trial.set_user_attr("surplus", True)
        raise _Surplus(f"trial {trial.number} is beyond the study's {config.trials} trials")
    params = {name_: param.suggest(trial) for name_, param in config.space.items()}
    run_dir = config.sweep_dir / name
    reporter = pruning_callback(trial, config.metric)
    options = trial_options(params, config.options)
    # the trials share one feature cache: a frozen backbone's outputs are computed once for the whole sweep
    options = {"verbose": 0, "feature_cache_dir": config.sweep_dir / CACHE_DIR, **options, "epochs": config.epochs,
               "run_dir": run_dir, "callbacks": [reporter, *options.get("callbacks", ())]}
    try:
        result = _fit(config, params.get("model", config.model), options)
        values = result.history.get(config.metric)
        if not values:
            raise InvalidArgumentError(f"The sweep's metric {config.metric!r} is not among the run's metrics "
                                       f"({', '.join(sorted(result.history))}); pass one of those as metric=.")
    except (Exception, KeyboardInterrupt) as error:
        if not isinstance(error, KeyboardInterrupt):
            trial.set_user_attr("error", " ".join(str(error).split())[:500] or type(error).__name__)
        raise
    finite = [v for v in values if math.isfinite(v)]
    value = (min if config.direction == "minimize" else max)(finite) if finite else math.nan
    pruned = reporter.pruned or not finite
    state = "pruned" if pruned else "complete"
    record = runs.read_json(run_dir / runs.RUN_CONFIG, {}) or {}
    record["sweep"] = {"study": config.study_name, "trial": trial.number, "state": state, "params": params,
                       "seed": config.seed, "metric": config.metric, "value": value}
    runs.write_json(run_dir / runs.RUN_CONFIG, record)
    write_hparams(run_dir / runs.LOGS, f"{name}", params, {config.metric: value}, state, epochs=len(values))
    if pruned:
        raise optuna.TrialPruned(f"{config.metric} {values[-1]:.4f} at epoch {len(values)}")
    return value


def _fit(config: _Config, model: Any, options: dict[str, Any]):
    """One trial's ``hub.fine_tune`` or ``hub.train``, loading folder data with the trial's batch size."""
    from hub_core import training

    train, validation = _data(config, model, int(options.get("batch_size", 32)))
    fit = training.fine_tune if config.task == "fine_tune" else training.train
    return fit(model, train, validation, **options)


def _data(config: _Config, model: Any, batch_size: int):
    """``(train, validation)``: folders are read here (each worker, each trial's batch size), others pass as given."""
    if not _is_path(config.train):
        return config.train, config.validation
    from hub_core import data

    common = dict(model=model if isinstance(model, str) else None, image_size=config.image_size, batch_size=batch_size,
                  seed=config.seed)
    if isinstance(config.validation, float):
        return data.image_folder(config.train, validation_split=config.validation, **common)
    train = data.image_folder(config.train, **common)
    validation = config.validation
    if _is_path(validation):
        validation = data.image_folder(validation, shuffle=False, class_names=train.class_names, **common)
    return train, validation


def pruning_callback(trial, metric: str):
    """A Keras callback that reports ``metric`` each epoch to ``trial`` and stops the run when Optuna prunes it.

    Its ``pruned`` attribute says whether it did. The run ends normally (its model and metrics saved), so the
    pruned trial keeps a complete run directory.
    """
    import keras

    class Reporter(keras.callbacks.Callback):
        pruned = False

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(metric)
            if value is None:
                return
            trial.report(float(value), step=epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return Reporter()


# --- tracking and results -------------------------------------------------------