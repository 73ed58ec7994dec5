"""Saved models: write and read ``.keras`` files safely, and reopen a run directory.

``hub.load(run_dir_or_file)``, the training loop, evaluation, prediction and
export all go through here. Keras' safe mode stays on, so files holding
``Lambda`` layers (arbitrary Python code) are refused; the custom layers a
file names are registered by importing only hub_core's and installed plugins'
modules. A run directory's layout is :mod:`hub_core.training.runs`'s; this
module reads the files a reopened model needs (the names below).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import weakref
import zipfile
from typing import Any

from hub_core._keras_compat import is_functional
from hub_core.errors import DataError, HubError, InvalidArgumentError
from hub_core.files import atomic_path

RUN_CONFIG = "run.json"
CLASS_NAMES = "class_names.json"
FINAL_MODEL = "model.keras"
BEST_MODEL = "best.keras"
# The other files of a run directory, named here (this module imports no TensorFlow) for the light readers
# (``hub card``, ``hub serve``) as well as the training code that writes them.
PREPROCESSING = "preprocessing.json"
BEST_INFO = "best.json"
METRICS = "metrics.json"
SKIPPED = "skipped_files.json"
CURVES = "curves.png"
EVALUATION = "evaluation.json"  # ``hub card --data DIR`` (or ``hub evaluate RUN --data DIR --json``) saved in the run
CARD = "README.md"  # the run's model card (``hub card``)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file, or return ``default`` when it does not exist.

    Raises:
        DataError: When the file is not valid JSON (truncated or damaged), naming it.
    """
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        reason = f"{error.msg} at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else "not UTF-8 text"
        raise DataError(f"{path} is not valid JSON ({reason}), so it is truncated or damaged; restore or delete it.") from None


def weights_hash(weights, *, paths: bool = True) -> str:
    """Hex sha256 of Keras variables: each one's path (with ``paths``), shape, dtype and bytes, in order.

    A cache key of a model's state; without ``paths`` it does not change with Keras' automatic layer names.
    """
    import hashlib

    import keras

    digest = hashlib.sha256()
    for weight in weights:
        if paths:
            digest.update(weight.path.encode())
        digest.update(f"{tuple(weight.shape)}:{weight.dtype}".encode())
        digest.update(keras.ops.convert_to_numpy(weight).tobytes())
    return digest.hexdigest()


def save_model(model, path: str | os.PathLike) -> None:
    """Save ``model`` as a ``.keras`` file atomically, without training state.

    The optimizer of a run may carry hub-specific behaviour (layer-wise
    learning rates) that a plain Keras loader cannot rebuild, so functional
    models are saved as an uncompiled clone holding the same weights.
    """
    to_save = _uncompiled_clone(model) if is_functional(model) and getattr(model, "compiled", False) else model
    with atomic_path(path) as tmp:
        to_save.save(tmp)


# model -> (its trainable variables' ids, its uncompiled clone): a run saves its best model after each improving
# epoch, and cloning costs about a second a save for EfficientNet-Lite0; setting weights costs a tenth of that.
_SAVE_CLONES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _uncompiled_clone(model):
    """An uncompiled clone of ``model`` holding its current weights, cloned again when its trainable layers change."""
    import keras

    trainable = tuple(id(variable) for variable in model.trainable_weights)
    kept = _SAVE_CLONES.get(model)
    if kept is None or kept[0] != trainable:
        kept = _SAVE_CLONES[model] = (trainable, keras.models.clone_model(model))
    kept[1].set_weights(model.get_weights())
    return kept[1]


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
    if kwargs:
        raise InvalidArgumentError(
            f"Builder options {sorted(kwargs)} do not apply to a saved model at {path}; load it without them."
        )
    if which not in ("best", "final"):
        raise InvalidArgumentError(f"which must be 'best' or 'final', not {which!r}.")
    path = pathlib.Path(path)
    run = path.is_dir()
    if run:
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
    if run:
        model.class_names = tuple(read_json(path / CLASS_NAMES, []) or ())
        model.run_dir = str(path)
    return model


def load_keras(file: str | os.PathLike, *, compile: bool = False):
    """``keras.saving.load_model`` with safe mode on and one-line errors.

    Raises:
        DataError: When the file cannot be read or holds unsafe code (``Lambda``).
        WeightsError: When its weights refer to other files or declare more data than they hold.
    """
    import keras

    import hub_core.vision.layers  # noqa: F401  (registers the preprocessing layer of hub image models)
    from hub_core.store.readers.hdf5 import check_keras_file

    if not zipfile.is_zipfile(file):  # Keras would say "File not found"
        raise _damaged(file, "it is not a zip archive")
    check_keras_file(file)  # before Keras opens the weights: no links out of the file, no forged sizes
    _import_layer_modules(file)
    try:
        return keras.saving.load_model(file, compile=compile, safe_mode=True)
    except zipfile.BadZipFile as error:
        raise _damaged(file, str(error).rstrip(".")) from error
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise DataError(
                f"{file} contains a Lambda layer (arbitrary Python code), which hub_core refuses to load under "
                "Keras safe mode; rebuild the model without Lambda layers or load it yourself with safe_mode=False if you trust it."
            ) from error
        raise DataError(f"Could not load the model in {file}: {' '.join(str(error).split())}") from error
    except (OSError, KeyError, TypeError) as error:
        raise DataError(f"Could not load the model in {file}: {type(error).__name__}: {error}") from error


def _damaged(file: str | os.PathLike, why: str) -> DataError:
    """The error for a ``.keras`` file that is no intact zip archive."""
    return DataError(f"The model file {file} is damaged ({why}; a .keras file is a zip archive, so it was probably cut "
                     "short by an interrupted copy or a full disk); copy or save it again, or train the run again.")


def _import_layer_modules(file: str | os.PathLike) -> None:
    """Import the hub modules that define a ``.keras`` file's registered custom objects.

    Custom layers and optimizers (``registered_name`` ``"package>Name"``) are
    registered when their module is imported; plugin metadata modules are
    light and do not import them. Only modules of hub_core and of installed
    plugin packages are imported.
    """
    import importlib

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
