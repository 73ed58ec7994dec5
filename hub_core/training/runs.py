"""Run directories: what a training run writes, how it resumes, how it reopens.

Layout of a run directory (every file is written to a temporary name and
moved into place with ``os.replace``, so a crash never leaves half a file
under a final name)::

    RUN_DIR/
      run.json            the run's config: model name, plugin, arguments, task
      class_names.json    class names in label order (when known)
      preprocessing.json  what the model expects as input (size, channels, range)
      model.keras         the final model
      best.keras          the best model so far by the monitored metric
      best.json           monitored metric, its value and the epoch of best.keras
      metrics.json        per-epoch history, best and final metrics
      skipped_files.json  data files that were skipped as unreadable (if any)
      curves.png          plot of the training curves
      logs/               TensorBoard event files
      checkpoints/        training state (``ckpt-*.npz``) and ``manifest.json``

A checkpoint stores every model variable (including BatchNorm statistics and
dropout seed state), the optimizer variables and the metric accumulators, so
a run killed at any point continues exactly where the last checkpoint left
it. The manifest is written last and lists each checkpoint with its sha256;
a checkpoint file that is missing or does not match (half-written) is
ignored and the previous one is used.

Reading a run back (``hub.load(run_dir)``) is :mod:`hub_core.saving`'s, which
owns the names of the files it reads (re-exported here with the others).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from hub_core.errors import WeightsError
from hub_core.files import atomic_path, sha256_file
from hub_core.saving import BEST_MODEL, CLASS_NAMES, FINAL_MODEL, RUN_CONFIG, read_json, save_model
from hub_core.store.readers.numpy import load_npz

PREPROCESSING = "preprocessing.json"
BEST_INFO = "best.json"
METRICS = "metrics.json"
SKIPPED = "skipped_files.json"
CURVES = "curves.png"
LOGS = "logs"
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
KEEP_CHECKPOINTS = 3

__all__ = ["BEST_INFO", "BEST_MODEL", "CHECKPOINTS", "CLASS_NAMES", "CURVES", "FINAL_MODEL", "KEEP_CHECKPOINTS", "LOGS",
           "MANIFEST", "METRICS", "PREPROCESSING", "RUN_CONFIG", "SKIPPED", "RunDir", "plot_curves", "read_json",
           "write_json"]


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable), encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class RunDir:
    """One run directory: config, artifacts, checkpoints and the best model.

    Args:
        path: The directory (created when missing).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints = self.path / CHECKPOINTS

    def __truediv__(self, name: str) -> pathlib.Path:
        return self.path / name

    # --- checkpoints -----------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The checkpoint manifest (an empty one when there is none)."""
        return read_json(self.checkpoints / MANIFEST, {"checkpoints": []})

    def latest_checkpoint(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The newest complete checkpoint as ``(entry, arrays)``, or None.

        Entries whose file is missing, unreadable or does not match the
        recorded sha256 (a half-written file) are skipped in favour of the
        previous one.
        """
        for entry in reversed(self.manifest()["checkpoints"]):
            file = self.checkpoints / entry["file"]
            try:
                if sha256_file(file) != entry["sha256"]:
                    continue
                return entry, load_npz(file)
            except (OSError, ValueError, KeyError, WeightsError):
                continue
        return None

    def save_checkpoint(self, state: dict[str, Any], arrays: dict[str, Any]) -> pathlib.Path:
        """Write a checkpoint file, then the manifest, then prune old files.

        Args:
            state: Plain-data training position (epoch, step, phase...).
            arrays: Named numpy arrays to store.

        Returns:
            The checkpoint file.
        """
        import numpy as np

        name = f"ckpt-e{state['epoch']:04d}-s{state['step']:06d}-g{state['global_step']:08d}.npz"
        file = self.checkpoints / name
        with atomic_path(file) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        manifest = self.manifest()
        entries = [e for e in manifest["checkpoints"] if e["file"] != name]
        entries.append(dict(state, file=name, sha256=sha256_file(file)))
        manifest["checkpoints"] = entries[-KEEP_CHECKPOINTS:]
        write_json(self.checkpoints / MANIFEST, manifest)
        kept = {e["file"] for e in manifest["checkpoints"]}
        for old in self.checkpoints.glob("ckpt-*.npz"):
            if old.name not in kept:
                old.unlink(missing_ok=True)
        return file

    def reset(self) -> None:
        """Forget earlier training state: checkpoints, the best-model record and the metrics."""
        import shutil

        shutil.rmtree(self.checkpoints, ignore_errors=True)
        for name in (BEST_INFO, METRICS):
            (self.path / name).unlink(missing_ok=True)

    # --- best model ------------------------------------------------------
    def best(self) -> dict[str, Any] | None:
        """``{"monitor", "mode", "value", "epoch"}`` of ``best.keras``, or None."""
        return read_json(self.path / BEST_INFO)

    def offer_best(self, model, monitor: str, mode: str, value: float, epoch: int) -> bool:
        """Save ``model`` as the best model if ``value`` beats the recorded best.

        Returns:
            Whether the model was saved.
        """
        best = self.best()
        if best is not None and best.get("monitor") == monitor:
            better = value < best["value"] if mode == "min" else value > best["value"]
            if not better:
                return False
        save_model(model, self.path / BEST_MODEL)
        write_json(self.path / BEST_INFO, {"monitor": monitor, "mode": mode, "value": float(value), "epoch": epoch})
        return True


def plot_curves(history: dict[str, list[float]], path: str | os.PathLike) -> pathlib.Path:
    """Plot every metric of ``history`` (train and ``val_`` together) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(k for k in history if not k.startswith("val_") and k != "learning_rate")
    figure, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            axis.plot(range(1, len(history[f"val_{name}"]) + 1), history[f"val_{name}"], marker="o", label="validation")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
    return pathlib.Path(path)


