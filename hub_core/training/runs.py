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
skipped with a warning (logger ``hub_core``) and the previous one is used. A
damaged manifest is rebuilt from the checkpoint file names (each file is then
checked by its zip CRCs). Temporary files of a killed write are removed when
the next run opens the directory (:meth:`RunDir.prepare`).

Reading a run back (``hub.load(run_dir)``) is :mod:`hub_core.saving`'s, which
owns the names of the files it reads (re-exported here with the others).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import re
import time
import zipfile
from typing import Any

from hub_core.errors import DataError, WeightsError
from hub_core.files import atomic_path, sha256_file
from hub_core.saving import (BEST_INFO, BEST_MODEL, CLASS_NAMES, CURVES, FINAL_MODEL, METRICS, PREPROCESSING, RUN_CONFIG,
                             SKIPPED, read_json, save_model)
from hub_core.store.readers.numpy import load_npz

LOGS = "logs"
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
KEEP_CHECKPOINTS = 3
# What atomic_path names its temporary files (".NAME.RANDOM.tmp.SUFFIXES"), and a checkpoint's name.
PARTIAL_FILES = ".*.tmp*"
CHECKPOINT_NAME = re.compile(r"ckpt-e(?P<epoch>\d+)-s(?P<step>\d+)-g(?P<global_step>\d+)\.npz")
# Files that say the directory holds a run's results (not only its set-up files).
RESULTS = (BEST_MODEL, BEST_INFO, FINAL_MODEL, METRICS, CHECKPOINTS)
_log = logging.getLogger("hub_core")

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

    # --- opening ----------------------------------------------------------
    def holds_results(self) -> bool:
        """Whether an earlier run left results here (a model, metrics or checkpoints)."""
        return any((self.path / name).exists() for name in RESULTS)

    def move_aside(self) -> pathlib.Path:
        """Rename the directory to ``NAME.YYYYmmdd-HHMMSS`` (a free name) and start an empty one.

        Returns:
            Where the earlier run now is.
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.{stamp}")
        for number in range(2, 1000):
            if not aside.exists():
                break
            aside = self.path.with_name(f"{self.path.name}.{stamp}-{number}")
        self.path.rename(aside)
        self.path.mkdir()
        return aside

    def prepare(self) -> None:
        """Make the directory ready for a run: remove temporary files of a killed write, check the records.

        Raises:
            DataError: When ``run.json``, ``best.json`` or ``metrics.json`` is damaged (checked now,
                not after an epoch of training).
        """
        for partial in self.path.rglob(PARTIAL_FILES):
            if partial.is_file():
                partial.unlink(missing_ok=True)
        for name in (RUN_CONFIG, METRICS):
            read_json(self.path / name)
        self.best()
        try:
            self.manifest()
        except DataError:
            entries = self._entries_from_names()
            _log.warning("hub: the checkpoint manifest %s is damaged, so it is rebuilt from the %d checkpoint file(s) "
                         "found by name.", self.checkpoints / MANIFEST, len(entries))
            write_json(self.checkpoints / MANIFEST, {"checkpoints": entries})

    # --- checkpoints -----------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The checkpoint manifest (an empty one when there is none).

        Raises:
            DataError: When the manifest is damaged: not JSON, or not a list of checkpoint entries.
        """
        path = self.checkpoints / MANIFEST
        manifest = read_json(path, {"checkpoints": []})
        entries = manifest.get("checkpoints") if isinstance(manifest, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("file"), str) for e in entries):
            raise DataError(f"{path} is not a checkpoint manifest (a list of checkpoints); restore or delete it.")
        return manifest

    def _entries_from_names(self) -> list[dict[str, Any]]:
        """Manifest entries for the checkpoint files, oldest first, from their names (no sha256 to check)."""
        entries = []
        for file in self.checkpoints.glob("ckpt-*.npz"):
            match = CHECKPOINT_NAME.fullmatch(file.name)
            if match:
                entries.append({**{k: int(v) for k, v in match.groupdict().items()}, "file": file.name, "sha256": None})
        return sorted(entries, key=lambda e: (e["global_step"], e["epoch"], e["step"]))[-KEEP_CHECKPOINTS:]

    def has_checkpoint(self) -> bool:
        """Whether :meth:`latest_checkpoint` finds a checkpoint to resume from, without reading its arrays.

        A checkpoint counts when its file is there with the sha256 the manifest recorded or, for the entries
        of a damaged manifest, found by name, when its zip members pass their CRC check.
        """
        try:
            entries = self.manifest()["checkpoints"]
        except DataError:
            entries = self._entries_from_names()
        return any(self._intact(entry) for entry in entries)

    def _intact(self, entry: dict[str, Any]) -> bool:
        """Whether the file of checkpoint ``entry`` is there and has its recorded sha256 (or, without one, intact zip members)."""
        file = self.checkpoints / entry["file"]
        try:
            if entry.get("sha256") is not None:
                return sha256_file(file) == entry["sha256"]
            with zipfile.ZipFile(file) as archive:
                return archive.testzip() is None
        except (OSError, zipfile.BadZipFile):
            return False

    def latest_checkpoint(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The newest complete checkpoint as ``(entry, arrays)``, or None.

        Entries whose file is missing, unreadable or does not match the
        recorded sha256 (a half-written file) are skipped in favour of the
        previous one, each with a warning; when none is left, a warning says
        that the run restarts from scratch.
        """
        entries = self.manifest()["checkpoints"]
        for entry in reversed(entries):
            file = self.checkpoints / entry["file"]
            try:
                if entry.get("sha256") is not None and sha256_file(file) != entry["sha256"]:
                    raise ValueError("its sha256 is not the one the manifest recorded")
                return entry, load_npz(file)
            except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, WeightsError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else error
                _log.warning("hub: skipped the damaged checkpoint %s (%s).", file, reason)
        if entries:
            _log.warning("hub: no checkpoint in %s is readable, so the run restarts from scratch.", self.checkpoints)
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

    # --- best model ------------------------------------------------------
    def best(self) -> dict[str, Any] | None:
        """``{"monitor", "mode", "value", "epoch"}`` of ``best.keras``, or None.

        Raises:
            DataError: When ``best.json`` is damaged.
        """
        path = self.path / BEST_INFO
        best = read_json(path)
        if best is not None and not (isinstance(best, dict) and isinstance(best.get("value"), (int, float))):
            raise DataError(f"{path} is not a best-model record (no numeric 'value'); restore or delete it.")
        return best

    def offer_best(self, model, monitor: str, mode: str, value: float, epoch: int) -> bool:
        """Save ``model`` as the best model if ``value`` beats the recorded best.

        A value that is not finite (a diverged model) is never the best. A best model chosen by
        another metric is replaced, with a warning.

        Returns:
            Whether the model was saved.
        """
        if not math.isfinite(value):
            return False
        best = self.best()
        if best is not None and best.get("monitor") == monitor:
            better = value < best["value"] if mode == "min" else value > best["value"]
            if not better:
                return False
        elif best is not None:
            _log.warning("hub: %s was the best model by %s, which this run does not measure; it is replaced by the "
                         "best by %s.", self.path / BEST_MODEL, best.get("monitor"), monitor)
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


