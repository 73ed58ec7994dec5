"""What a sweep writes besides its trials' run directories: HParams summaries, sweep.json, the table, the plot.

The files of a sweep directory (see :mod:`hub_core.training.sweep`) are named here.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Mapping

from hub_core.errors import DataError
from hub_core.training import runs
from hub_core.training.options import describe
from hub_core.training.search_space import Param, trial_options

JOURNAL = "study.journal"
SUMMARY = "sweep.json"
PLOT = "sweep.png"
HPARAMS = "hparams"


def run_name(trial) -> str:
    """The run directory name of an Optuna trial (a retry keeps the name of the trial it retries)."""
    return trial.user_attrs.get("run") or f"trial-{trial.number:04d}"


def _hparams_api():
    from tensorboard.plugins.hparams import api

    return api


def _domain(param: Param):
    hp = _hparams_api()
    if param.kind == "choice":
        values = list(param.choices)
        if not all(isinstance(v, (bool, str)) for v in values) or len({type(v) for v in values}) > 1:
            values = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v) for v in values]
            if len({type(v) for v in values}) > 1:
                values = [str(v) for v in values]
        return hp.Discrete(values)
    if param.kind == "int":
        return hp.IntInterval(int(param.low), int(param.high))
    return hp.RealInterval(float(param.low), float(param.high))


def write_hparams_config(config) -> None:
    """TensorBoard's HParams experiment config in ``SWEEP_DIR/hparams``, written by the first process only."""
    import tensorflow as tf
    from filelock import FileLock

    folder = config.sweep_dir / HPARAMS
    with FileLock(str(config.sweep_dir / ".hparams.lock")):
        if folder.is_dir() and any(folder.glob("events.out.tfevents.*")):
            return
        hp = _hparams_api()
        metrics = [hp.Metric(config.metric, display_name=f"{config.metric} (best epoch)"),
                   hp.Metric("epoch_loss", group="validation", display_name="val_loss (last epoch)"),
                   hp.Metric("epoch_loss", group="train", display_name="loss (last epoch)")]
        hparams = [hp.HParam(n, _domain(p)) for n, p in config.space.items()]
        hparams.append(hp.HParam("sweep_state", hp.Discrete(["complete", "pruned"])))
        with tf.summary.create_file_writer(str(folder)).as_default():
            hp.hparams_config(hparams=hparams, metrics=metrics)


def write_hparams(logdir: str | os.PathLike, trial_id: str, params: Mapping[str, Any], metrics: Mapping[str, float],
                  state: str, epochs: int) -> None:
    """Write one trial's HParams summary and final metrics into ``logdir`` (its run's TensorBoard folder).

    Args:
        logdir: The trial run's ``logs/`` (Keras writes ``train/`` and ``validation/`` under it).
        trial_id: The session's name in the HParams dashboard.
        params: The trial's parameter values.
        metrics: ``{tag: value}`` scalars written at step ``epochs``.
        state: ``"complete"`` or ``"pruned"`` (an HParam column of its own, ``sweep_state``).
        epochs: The epochs the trial ran.
    """
    import tensorflow as tf

    hp = _hparams_api()
    values = {n: v if isinstance(v, (bool, str, int, float)) else str(v) for n, v in params.items()}
    with tf.summary.create_file_writer(str(logdir)).as_default():
        hp.hparams({**values, "sweep_state": state}, trial_id=trial_id)
        for tag, value in metrics.items():
            tf.summary.scalar(tag, value, step=epochs)


def _trial_record(config, trial) -> dict[str, Any]:
    return {"number": trial.number, "state": trial.state.name.lower(), "params": dict(trial.params),
            "value": trial.value if trial.values else None,
            "run_dir": str(config.sweep_dir / run_name(trial)) if "run" in trial.user_attrs else None,
            "seconds": trial.duration.total_seconds() if trial.duration else None,
            "seed": trial.user_attrs.get("seed", config.seed), "retry_of": trial.user_attrs.get("retry_of"),
            "error": trial.user_attrs.get("error"), "surplus": bool(trial.user_attrs.get("surplus"))}


def best_options(config, best: Mapping[str, Any]) -> dict[str, Any]:
    """The ``hub.fine_tune``/``hub.train`` keyword arguments that repeat the trial ``best``."""
    options = {k: v for k, v in trial_options(best["params"], config.options).items() if k != "callbacks"}
    return {**options, "epochs": config.epochs, "seed": best["seed"]}


def write_summary(config, study) -> dict[str, Any]:
    """Write ``sweep.json``: the best trial (parameters, value, run directory, options) and every trial's state.

    Returns:
        The summary written.
    """
    from optuna.trial import TrialState

    trials = [_trial_record(config, t) for t in study.get_trials(deepcopy=False)]
    best = None
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        record = _trial_record(config, study.best_trial)
        best = {**record, "options": describe(best_options(config, record))}
    summary = {"study": config.study_name, "storage": config.storage or JOURNAL, "metric": config.metric,
               "direction": config.direction, "trials_total": config.trials, "epochs": config.epochs,
               "model": str(config.model), "task": config.task,
               "space": {n: p.spec() for n, p in config.space.items()}, "best": best, "trials": trials}
    runs.write_json(config.sweep_dir / SUMMARY, summary)
    return runs.read_json(config.sweep_dir / SUMMARY)


def read_summary(sweep_dir: str | os.PathLike) -> dict[str, Any]:
    """``sweep.json`` of ``sweep_dir``.

    Raises:
        DataError: When there is none (no sweep ran there) or it is damaged.
    """
    path = pathlib.Path(sweep_dir) / SUMMARY
    summary = runs.read_json(path)
    if not isinstance(summary, dict) or "trials" not in summary:
        raise DataError(f"{path} is not a sweep summary; run hub sweep with --out {sweep_dir} first.")
    return summary


def table_rows(summary: Mapping[str, Any]) -> tuple[list[list[str]], list[str]]:
    """The results table of a summary: ``(rows, header)``, one row per trial (surplus starts left out).

    The best trial's number is starred (``3*``).
    """
    names = sorted(summary.get("space", {}))
    best = (summary.get("best") or {}).get("number")
    rows = []
    for trial in summary["trials"]:
        if trial.get("surplus"):
            continue
        value = trial.get("value")
        rows.append([f"{trial['number']}{'*' if trial['number'] == best else ''}", trial["state"],
                     "" if value is None else f"{value:.4f}",
                     *(_short(trial["params"].get(n, "")) for n in names),
                     pathlib.Path(trial["run_dir"]).name if trial.get("run_dir") else ""])
    return rows, ["TRIAL", "STATE", summary["metric"].upper(), *(n.upper() for n in names), "RUN"]


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def plot_study(study, path: str | os.PathLike) -> pathlib.Path | None:
    """Optuna's optimisation history and parameter importances, side by side, in one PNG.

    Returns:
        The PNG, or None when no trial is complete yet. The importances need two complete trials and a
        parameter that varies; without them the history is alone.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots
    from PIL import Image

    from hub_core.files import atomic_path

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    panels = []
    for draw in (plots.plot_optimization_history, plots.plot_param_importances):
        try:
            axes = draw(study)
        except (ValueError, RuntimeError):  # the importances of too few trials
            continue
        figure = axes.figure
        figure.set_size_inches(6, 4)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        plt.close(figure)
        panels.append(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    canvas = Image.new("RGB", (sum(p.width for p in panels), max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return pathlib.Path(path)
