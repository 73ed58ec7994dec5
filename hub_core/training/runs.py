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

``open_saved(path)`` reopens a run directory or a ``.keras`` file for
``hub.load``; Keras' safe mode stays on, so files containing ``Lambda``
layers are refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from typing import Any

from hub_core._keras_compat import is_functional
from hub_core.errors import DataError, HubError
from hub_core.files import atomic_path, sha256_file

RUN_CONFIG = "run.json"
CLASS_NAMES = "class_names.json"
PREPROCESSING = "preprocessing.json"
FINAL_MODEL = "model.keras"
BEST_MODEL = "best.keras"
BEST_INFO = "best.json"
METRICS = "metrics.json"
SKIPPED = "skipped_files.json"
CURVES = "curves.png"
LOGS = "logs"
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
KEEP_CHECKPOINTS = 3


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable), encoding="utf-8")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file, or return ``default`` when it does not exist."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def save_model(model, path: str | os.PathLike) -> None:
    """Save ``model`` as a ``.keras`` file atomically, without training state.

    The optimizer of a run may carry hub-specific behaviour (layer-wise
    learning rates) that a plain Keras loader cannot rebuild, so functional
    models are saved as an uncompiled clone holding the same weights.
    """
    import keras

    to_save = model
    if is_functional(model) and getattr(model, "compiled", False):
        to_save = keras.models.clone_model(model)
        to_save.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        to_save.save(tmp)


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
        import numpy as np

        for entry in reversed(self.manifest()["checkpoints"]):
            file = self.checkpoints / entry["file"]
            try:
                if sha256_file(file) != entry["sha256"]:
                    continue
                with np.load(file, allow_pickle=False) as archive:
                    return entry, {key: archive[key] for key in archive.files}
            except (OSError, ValueError, KeyError):
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


def open_saved(path: str | os.PathLike, *, which: str = "best", compile: bool = False, **kwargs: Any):
    """Reopen a run directory or a ``.keras`` file (what ``hub.load(path)`` calls).

    Args:
        path: A run directory written by ``hub.fine_tune``/``hub.train`` or a ``.keras`` file.
        which: For run directories, ``"best"`` (default; falls back to the
            final model when no best model was recorded) or ``"final"``.
        compile: Restore the training configuration saved in the file.
        **kwargs: Not accepted; builder options do not apply to saved models.

    Returns:
        The ``keras.Model``. For run directories ``model.class_names`` holds
        the class names (a tuple) and ``model.run_dir`` the directory.

    Raises:
        InvalidArgumentError: For builder options or an unknown ``which``.
        DataError: When the path holds no model or the file cannot be read,
            including files with ``Lambda`` layers, refused under safe mode.
    """
    from hub_core.errors import InvalidArgumentError

    if kwargs:
        raise InvalidArgumentError(
            f"Builder options {sorted(kwargs)} do not apply to a saved model at {path}; load it without them."
        )
    if which not in ("best", "final"):
        raise InvalidArgumentError(f"which must be 'best' or 'final', not {which!r}.")
    path = pathlib.Path(path)
    run = None
    if path.is_dir():
        run = RunDir(path)
        file = path / BEST_MODEL if which == "best" and (path / BEST_MODEL).exists() else path / FINAL_MODEL
        if not file.exists():
            raise DataError(f"{path} holds no {FINAL_MODEL} or {BEST_MODEL}; pass a run directory written by hub.fine_tune or hub.train.")
    else:
        file = path
        if not file.exists():
            raise DataError(f"Model file {file} does not exist; pass an existing .keras file or run directory.")
    config = read_json(path / RUN_CONFIG, {}) if run else {}
    _import_plugin_of(config)
    model = load_keras(file, compile=compile)
    if run is not None:
        model.class_names = tuple(read_json(path / CLASS_NAMES, []) or ())
        model.run_dir = str(path)
    return model


def load_keras(file: str | os.PathLike, *, compile: bool = False):
    """``keras.saving.load_model`` with safe mode on and one-line errors.

    Raises:
        DataError: When the file cannot be read or holds unsafe code (``Lambda``).
    """
    import keras

    import hub_core.vision.layers  # noqa: F401  (registers the preprocessing layer of hub image models)

    _import_layer_modules(file)
    try:
        return keras.saving.load_model(file, compile=compile, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise DataError(
                f"{file} contains a Lambda layer (arbitrary Python code), which hub_core refuses to load under "
                "Keras safe mode; rebuild the model without Lambda layers or load it yourself with safe_mode=False if you trust it."
            ) from error
        raise DataError(f"Could not load the model in {file}: {' '.join(str(error).split())}") from error
    except (OSError, KeyError, TypeError) as error:
        raise DataError(f"Could not load the model in {file}: {type(error).__name__}: {error}") from error


def _import_layer_modules(file: str | os.PathLike) -> None:
    """Import the hub modules that define a ``.keras`` file's registered custom objects.

    Custom layers and optimizers (``registered_name`` ``"package>Name"``) are
    registered when their module is imported; plugin metadata modules are
    light and do not import them. Only modules of hub_core and of installed
    plugin packages are imported.
    """
    import importlib
    import zipfile

    from hub_core.hub import registry

    try:
        with zipfile.ZipFile(file) as archive:
            config = json.loads(archive.read("config.json"))
        packages = {"hub_core"} | {r.value.split(".", 1)[0].split(":")[0] for r in registry.registrations().values()}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, HubError):
        return  # load_model reports unreadable files
    modules: set[str] = set()
    pending = [config]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if ">" in str(node.get("registered_name") or "") and isinstance(node.get("module"), str):
                modules.add(node["module"])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for module in sorted(m for m in modules if m.split(".")[0] in packages):
        with contextlib.suppress(Exception):  # a broken module: load_model then names the missing class
            importlib.import_module(module)


def _import_plugin_of(config: dict[str, Any]) -> None:
    """Import the plugin that built a run's model, so its custom layers are registered."""
    plugin = config.get("plugin")
    if not plugin:
        return
    from hub_core.hub import registry

    try:
        registry.get_plugin(plugin)
    except HubError:
        pass  # plain Keras layers still load; a missing custom layer fails with its own error
