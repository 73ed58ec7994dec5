"""``hub.predict``: the one prediction path, for catalog models, run directories, ``.keras`` files and models."""

from __future__ import annotations

import os
from typing import Any, Sequence

from hub_core.errors import InvalidArgumentError
from hub_core.exporting import engines
from hub_core.vision import imaging
from hub_core.vision.preprocessing import imagenet_class_index

DEFAULT = "default"
IMAGENET_CLASSES = 1000


def predict(model: Any, inputs: Any, *, top_k: int = 5, batch_size: int = 32, image_size: Sequence[int] | None = None,
            weights: Any = DEFAULT, engine: str = "auto"):
    """Predict with a catalog model, a run directory, a ``.keras`` file or a ``keras.Model``.

    Args:
        model: A catalog model name (built with ``weights``), a run directory, a ``.keras`` file or a ``keras.Model``.
        inputs: Image paths (decoded and center-cropped like :func:`hub_core.data.image_folder`), an array
            batch of 0..255 pixels, or a dataset (used as it is). A catalog model applies its variant's declared
            preprocessing to them exactly once, inside the model; a saved model or ``keras.Model`` gets them as
            they are (a run directory's model holds its preprocessing).
        top_k: How many classes to list per input (classifiers).
        batch_size: Batch size.
        image_size: ``(height, width)`` to resize image files to; defaults to the model's input size (224 when it
            has none).
        weights: Weights of a catalog model (``"default"``, None, a set name, a path or a URL); only for names.
        engine: ``"keras"``, ``"openvino"``, ``"onnxruntime"`` or ``"auto"``: the fastest installed engine that
            agrees with Keras on the first batch (see :mod:`hub_core.exporting.engines`; datasets run on Keras).

    Returns:
        For a single-output classifier, one dict per input: ``label``, ``index``, ``score``, ``wnid`` (ImageNet
        outputs without class names), ``top`` (``[{"rank", "index", "label", "score", "wnid"?}]``) and, for
        image files, ``image`` (the path). Labels are the run's class names, else the ImageNet labels of a
        1000-class output, else the class index; ``engine`` names the engine that ran. A catalog model whose
        plugin decodes its outputs (``ModelPlugin.decode_predictions``), or a run directory of such a model (its
        ``run.json`` names the model and plugin), gives the plugin's dicts, with ``label``, ``image`` and
        ``engine``. Other models give their raw outputs (numpy).

    Raises:
        DataError: When an image file does not exist or cannot be read.
        InvalidArgumentError: For ``top_k < 1``, ``weights`` with a saved model, or an unknown engine.
        ExportError: When the runtime of an engine asked for by name is missing, or its export fails its check.
    """
    _check(top_k, engine)
    files = _image_files(inputs)
    # Decoded once, upright, before the (slow) model load, so a bad image fails first; resized for the model below.
    decoded = [imaging.decode_file(file) for file in files or ()]
    return Predictor(model, weights=weights, engine=engine)._predict(inputs, files, decoded, top_k=top_k,
                                                                     batch_size=batch_size, image_size=image_size)


class Predictor:
    """:func:`predict` with the model opened once and its engine chosen once, for many calls (``hub serve``).

    ``predictor(inputs)`` gives what ``hub.predict(model, inputs, ...)`` gives; the model is opened when the
    predictor is made and the engine is chosen on the first call (under ``"auto"``, on its first batch).
    Calls may come from several threads: the engine runs one batch at a time, decoding runs in parallel.

    Args:
        model: As for :func:`predict`.
        weights: As for :func:`predict`.
        engine: As for :func:`predict`.

    Raises:
        InvalidArgumentError: For an unknown engine, or as :func:`predict`.
    """

    def __init__(self, model: Any, *, weights: Any = DEFAULT, engine: str = "auto"):
        import threading

        _check(1, engine)
        self.model, self.plugin, self.variant = _open(model, weights)
        self.engine = engine
        self._runner = None
        self._lock = threading.Lock()

    def __call__(self, inputs: Any, *, top_k: int = 5, batch_size: int = 32, image_size: Sequence[int] | None = None):
        """Predict ``inputs`` as :func:`predict` does.

        Raises:
            DataError: When an image file does not exist or cannot be read.
            InvalidArgumentError: For ``top_k < 1``.
        """
        _check(top_k, self.engine)
        files = _image_files(inputs)
        decoded = [imaging.decode_file(file) for file in files or ()]
        return self._predict(inputs, files, decoded, top_k=top_k, batch_size=batch_size, image_size=image_size)

    def _predict(self, inputs, files, decoded, *, top_k, batch_size, image_size):
        import numpy as np

        model = self.model
        if files is not None:
            inputs = imaging.model_input_batch(decoded, model, image_size)
        with self._lock:  # one batch at a time: an engine's request (OpenVINO's) is not for concurrent use
            if hasattr(inputs, "element_spec"):
                runner = _engine(model, inputs, self.engine)
                outputs = model.predict(inputs, verbose=0)
            else:
                if self._runner is None:
                    self._runner = _engine(model, inputs, self.engine)
                runner = self._runner
                outputs = _run_batches(runner, model, inputs, int(batch_size))
        results = self.plugin.decode_predictions(self.variant, outputs) if self.plugin is not None else None
        if results is None:
            if isinstance(outputs, (list, tuple, dict)) or np.ndim(outputs) != 2 or np.shape(outputs)[-1] < 2:
                return outputs
            names = list(getattr(model, "class_names", None) or ())
            results = [_classes(row, int(top_k), names) for row in np.asarray(outputs, dtype="float32")]
        for result, file in zip(results, files or ()):
            result["image"] = str(file)
        for result in results:
            result["engine"] = runner.name
        return results


def _check(top_k: int, engine: str) -> None:
    if int(top_k) < 1:
        raise InvalidArgumentError(f"top_k must be at least 1, got {top_k}.")
    if engine not in engines.ENGINES:
        raise InvalidArgumentError(f"engine must be one of {', '.join(engines.ENGINES)}, not {engine!r}.")


def _engine(model, inputs, engine: str):
    """The engine asked for, or under ``"auto"`` the one chosen on the first batch (Keras for datasets)."""
    if engine == "auto":
        return engines.open_engine(model, "keras") if hasattr(inputs, "element_spec") else engines.choose(model, inputs)
    if engine != "keras" and hasattr(inputs, "element_spec"):
        raise InvalidArgumentError(f"engine={engine!r} runs arrays and image files; pass a dataset with engine='keras'.")
    return engines.open_engine(model, engine, sample=None if isinstance(inputs, dict) else inputs[:engines.AGREEMENT_IMAGES])


def _run_batches(runner, model, inputs, batch_size: int):
    """``runner``'s outputs on ``inputs`` in batches of ``batch_size`` (Keras batches itself)."""
    import numpy as np

    if runner.name == "keras":
        return model.predict(inputs, batch_size=batch_size, verbose=0)
    inputs = np.asarray(inputs, dtype="float32")
    return np.concatenate([runner(inputs[start:start + batch_size]) for start in range(0, len(inputs), batch_size)])


def _image_files(inputs: Any) -> list | None:
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, (str, os.PathLike)) for i in inputs):
        return list(inputs)
    return None


def _open(model: Any, weights: Any):
    """``(keras model, plugin, variant)`` to predict with (plugin and variant None for a saved model or
    keras.Model); a catalog model is built to take raw pixels (its declared preprocessing inside)."""
    import functools

    import keras

    from hub_core import api

    if not isinstance(model, (keras.Model, str, os.PathLike)):
        raise InvalidArgumentError(f"Expected a catalog model name, a run directory, a .keras file or a keras.Model, not {model!r}.")
    if isinstance(model, keras.Model) or api.names_saved_model(model):
        if weights != DEFAULT:
            raise InvalidArgumentError("weights= applies to catalog models, not to a saved model, run directory or keras.Model.")
        from hub_core.training.evaluate import open_model

        if isinstance(model, keras.Model):
            return model, None, None
        return (open_model(model), *_recorded_plugin(model))
    from hub_core.hub import catalog, registry
    from hub_core.vision.builder import raw_pixel_model

    plugin_name, variant_name = catalog.resolve(str(model))
    plugin = registry.get_plugin(plugin_name)
    variant = plugin.variant(variant_name)
    return raw_pixel_model(plugin, variant, functools.partial(api.load, str(model), weights=weights)), plugin, variant


def _recorded_plugin(path: str | os.PathLike):
    """``(plugin, variant)`` of the model a run directory's ``run.json`` records; ``(None, None)`` for a ``.keras``
    file, a run of a ``keras.Model``, or a plugin that is no longer installed (logged)."""
    import logging
    import pathlib

    from hub_core import saving
    from hub_core.errors import HubError
    from hub_core.hub import catalog, registry

    folder = pathlib.Path(path)
    config = saving.read_json(folder / saving.RUN_CONFIG) if folder.is_dir() else None
    if not isinstance(config, dict) or not isinstance(config.get("model"), str) or not config.get("plugin"):
        return None, None
    log = logging.getLogger("hub_core")
    try:
        plugin_name, variant_name = catalog.resolve(config["model"])
        plugin = registry.get_plugin(plugin_name)
    except HubError as error:
        log.warning("%s: its outputs are not decoded by its plugin (%s)", folder, error)
        return None, None
    if plugin_name != config["plugin"]:
        log.warning("%s: its model %s is now plugin %s's, not %s's; its outputs are not decoded", folder,
                    config["model"], plugin_name, config["plugin"])
        return None, None
    return plugin, plugin.variant(variant_name)


def _classes(row, top_k: int, names: list[str]) -> dict[str, Any]:
    """The top classes of one output row as plain data."""
    import numpy as np

    imagenet = imagenet_class_index() if not names and len(row) == IMAGENET_CLASSES else {}
    top = []
    for rank, index in enumerate(np.argsort(-row, kind="stable")[:top_k], start=1):
        index = int(index)
        entry = {"rank": rank, "index": index, "label": names[index] if index < len(names) else str(index),
                 "score": float(row[index])}
        if index in imagenet:
            entry["wnid"], entry["label"] = imagenet[index]
        top.append(entry)
    best = {key: value for key, value in top[0].items() if key != "rank"}
    return {**best, "top": top}
