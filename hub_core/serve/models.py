"""The models ``hub serve`` keeps loaded, and the try-it glue to ``hub.predict``'s path.

A model is opened once (:class:`hub_core.training.predict.Predictor`: the catalog model built to take raw
pixels, or a run's saved model, with the engine ``hub.predict`` would choose) and kept in a bounded LRU cache
(``HUB_CORE_SERVE_MODELS``). The cache is shared by the server's worker threads: a model is loaded by one
thread while the others asking for it wait, and models others ask for load meanwhile.
"""

from __future__ import annotations

import collections
import pathlib
import tempfile
import threading
from typing import Any, Callable

from hub_core import config
from hub_core.errors import DataError, ImageTooLargeError

TOP_K = 5


class ModelCache:
    """A thread-safe LRU cache of opened models (predictors), at most ``size`` of them.

    Args:
        size: How many models to keep; default ``HUB_CORE_SERVE_MODELS``.
    """

    def __init__(self, size: int | None = None):
        self.size = int(size or config.serve_models())
        self._items: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.loads = 0  # how many times a model was opened (a test and the benchmark read it)

    def get(self, key: str, opener: Callable[[], Any]) -> Any:
        """The cached item for ``key``, opened with ``opener()`` on a miss (once, however many threads ask)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            item = opener()
            with self._lock:
                self.loads += 1
                self._items[key] = item
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return item

    def keys(self) -> list[str]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._items)


def open_predictor(model: str | pathlib.Path, engine: str = "auto"):
    """A :class:`~hub_core.training.predict.Predictor` for a catalog model name or a run directory."""
    from hub_core.training.predict import Predictor

    return Predictor(str(model), engine=engine)


def read_upload(stream, limit: int | None = None) -> bytes:
    """The bytes of an uploaded file, refused past ``limit`` (``HUB_CORE_SERVE_MAX_UPLOAD_BYTES``) before reading on.

    Raises:
        ImageTooLargeError: When the upload is over the limit.
        DataError: When it is empty.
    """
    limit = int(limit or config.serve_max_upload_bytes())
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLargeError(f"The uploaded file is over the {limit}-byte limit; send a smaller image "
                                 f"(or raise {config.SERVE_MAX_UPLOAD_BYTES.name}).")
    if not data:
        raise DataError("The uploaded file is empty; choose a JPEG or PNG photo.")
    return data


def predict_image(predictor, data: bytes, filename: str = "upload") -> dict[str, Any]:
    """Run ``predictor`` (``hub.predict``'s path) on an uploaded image, written to a temporary folder that is removed.

    Args:
        predictor: A :class:`~hub_core.training.predict.Predictor`.
        data: The image file's bytes.
        filename: The upload's name (its suffix, for the temporary file; messages name it).

    Returns:
        For a classifier, ``{"kind": "classes", "top": [...], "label", "score", "engine"}``; for a model whose
        plugin decodes its outputs (``ModelPlugin.decode_predictions``), ``{"kind": "decoded", "label", "engine",
        "fields": {...}, "bars": {...}}``: the plugin's other fields, and among them those that are lists of
        probabilities (one bar each); for an image-to-image model, ``{"kind": "image",
        "png": bytes}``; other outputs as ``{"kind": "raw", "shape": [...]}``.

    Raises:
        DataError: When the bytes are not an image (``ImageTooLargeError`` over the pixel limit).
    """
    import numpy as np

    suffix = pathlib.Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="hub-serve-") as folder:
        path = pathlib.Path(folder) / f"upload{suffix if suffix[1:].isascii() and suffix[1:].isalnum() else '.img'}"
        path.write_bytes(data)
        try:
            outputs = predictor(str(path), top_k=TOP_K)
        except DataError as error:  # name the upload, not the temporary file
            raise type(error)(str(error).replace(str(path), f"'{filename}'")) from None
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        best = outputs[0]
        if "top" not in best:  # the plugin's own decoding: its label and whatever else it gives
            fields = {key: value for key, value in best.items() if key not in ("label", "image", "engine")}
            bars = {key: value for key, value in fields.items() if _probabilities(value)}
            return {"kind": "decoded", "label": best["label"], "engine": best["engine"], "fields": fields, "bars": bars}
        return {"kind": "classes", "label": best["label"], "score": best["score"], "index": best["index"],
                "top": best["top"], "engine": best["engine"]}
    array = np.asarray(outputs) if not isinstance(outputs, (dict, list, tuple)) else None
    if array is not None and array.ndim == 4 and array.shape[-1] == 3:
        return {"kind": "image", "png": png_bytes(array[0])}
    return {"kind": "raw", "shape": list(np.shape(array)) if array is not None else None}


def _probabilities(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of floats in [0, 1] (drawn as bars)."""
    return (isinstance(value, list) and bool(value) and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in value))


def predict_features(predictor, values: dict[str, str]) -> dict[str, Any]:
    """Score one row of raw feature values (a table run's form) with ``predictor``.

    A number field's text is parsed first; then the row is converted as every table model's raw input is
    (:func:`hub_core.tabular.features.raw_features`: an empty number is missing, an unknown category unknown).

    Raises:
        DataError: When a feature is missing or a number does not parse.
    """
    import numpy as np

    from hub_core.tabular.features import raw_features

    kinds = model_features(predictor.model)
    typed = {}
    for name, text in values.items():
        text = str(text).strip()
        if kinds.get(name) in ("number", "integer") and text:
            try:
                typed[name] = [float(text) if kinds[name] == "number" else int(text)]
            except ValueError:
                raise DataError(f"The feature '{name}' takes a number, not {text!r}; type a number or leave it "
                                "empty for a missing value.") from None
        else:
            typed[name] = [text if text or kinds.get(name) == "text" else None]
    row = raw_features(predictor.model, typed)
    output = np.asarray(predictor(row)).reshape(-1)
    return {"kind": "probability", "probability": float(output[0]), "outputs": output.tolist()}


def model_features(model) -> dict[str, str]:
    """``{input name: "text", "number" or "integer"}`` of a model that takes a dict of named features, else empty."""
    if not isinstance(getattr(model, "input", None), dict):
        return {}
    kinds = {}
    for name, tensor in model.input.items():
        dtype = str(tensor.dtype)
        kinds[name] = "number" if dtype.startswith("float") else "integer" if dtype.startswith("int") else "text"
    return kinds


def png_bytes(pixels) -> bytes:
    """Pixels (0..255) as PNG bytes."""
    import io

    from PIL import Image

    from hub_core.vision import imaging

    buffer = io.BytesIO()
    Image.fromarray(imaging.to_uint8(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def sample_photos() -> dict[str, pathlib.Path]:
    """The packaged sample photos: foolbox's labelled ImageNet photos when foolbox is installed (read as files)."""
    import importlib.util

    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = pathlib.Path(next(iter(spec.submodule_search_locations))) / "data"
    return {path.name: path for path in sorted(folder.glob("imagenet_*.jpg"))}
