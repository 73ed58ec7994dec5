"""``hub.predict``: the one prediction path, for catalog models, run directories, ``.keras`` files and models."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Sequence

from hub_core.errors import DataError, InvalidArgumentError
from hub_core.vision import imaging
from hub_core.vision.preprocessing import imagenet_class_index

DEFAULT = "default"
DEFAULT_SIZE = 224
IMAGENET_CLASSES = 1000


def predict(model: Any, inputs: Any, *, top_k: int = 5, batch_size: int = 32, image_size: Sequence[int] | None = None,
            weights: Any = DEFAULT):
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

    Returns:
        For a single-output classifier, one dict per input: ``label``, ``index``, ``score``, ``wnid`` (ImageNet
        outputs without class names), ``top`` (``[{"rank", "index", "label", "score", "wnid"?}]``) and, for
        image files, ``image`` (the path). Labels are the run's class names, else the ImageNet labels of a
        1000-class output, else the class index. Other models give their raw outputs (numpy).

    Raises:
        DataError: When an image file does not exist or cannot be read.
        InvalidArgumentError: For ``top_k < 1``, or ``weights`` with a saved model.
    """
    import numpy as np

    if int(top_k) < 1:
        raise InvalidArgumentError(f"top_k must be at least 1, got {top_k}.")
    files = _image_files(inputs)
    # Decoded once, upright, before the (slow) model load, so a bad image fails first; resized for the model below.
    decoded = [_decode(file) for file in files or ()]
    model = _open(model, weights)
    if files is not None:
        inputs = _read_images(decoded, model, image_size)
    if hasattr(inputs, "element_spec"):
        outputs = model.predict(inputs, verbose=0)
    else:
        outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
    if isinstance(outputs, (list, tuple, dict)) or np.ndim(outputs) != 2 or np.shape(outputs)[-1] < 2:
        return outputs
    names = list(getattr(model, "class_names", None) or ())
    results = [_classes(row, int(top_k), names) for row in np.asarray(outputs, dtype="float32")]
    for result, file in zip(results, files or ()):
        result["image"] = str(file)
    return results


def _image_files(inputs: Any) -> list | None:
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, (str, os.PathLike)) for i in inputs):
        return list(inputs)
    return None


def _open(model: Any, weights: Any):
    """The keras model to predict with; a catalog model is built to take raw pixels (its declared preprocessing inside)."""
    import functools

    import keras

    from hub_core import api

    if not isinstance(model, (keras.Model, str, os.PathLike)):
        raise InvalidArgumentError(f"Expected a catalog model name, a run directory, a .keras file or a keras.Model, not {model!r}.")
    if isinstance(model, keras.Model) or api.names_saved_model(model):
        if weights != DEFAULT:
            raise InvalidArgumentError("weights= applies to catalog models, not to a saved model, run directory or keras.Model.")
        from hub_core.training.evaluate import open_model

        return open_model(model)
    from hub_core.hub import catalog, registry
    from hub_core.vision.builder import raw_pixel_model

    plugin_name, variant_name = catalog.resolve(str(model))
    plugin = registry.get_plugin(plugin_name)
    return raw_pixel_model(plugin, plugin.variant(variant_name), functools.partial(api.load, str(model), weights=weights))


def _decode(file):
    """One image file as an upright RGB uint8 array at its own size.

    Raises:
        DataError: When the file does not exist or cannot be read as an image.
    """
    if not pathlib.Path(file).is_file():
        raise DataError(f"Image file {file} does not exist; check the path.")
    return imaging.load_image(str(file))


def _read_images(images: list, model, image_size: Sequence[int] | None):
    """Decoded images as a float32 batch at the model's input size and channels (center-cropped)."""
    import numpy as np

    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    height, width, channels = (shape + (None, None, None))[:3]
    if image_size is not None:
        height, width = image_size[0], image_size[-1]
    size = (int(height or DEFAULT_SIZE), int(width or DEFAULT_SIZE))
    images = imaging.load_images(images, size, crop="center", channels=1 if channels == 1 else 3)
    return np.asarray(images, dtype="float32")


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
