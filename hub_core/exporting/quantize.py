"""INT8 post-training quantization of an OpenVINO export with NNCF, calibrated on real images.

The calibration images are read from a folder exactly as ``hub.predict`` reads
image files for the same model (decoded upright, center-cropped and resized to
its input size); a model whose preprocessing is a layer gets it inside the
graph, so NNCF sees the activations the model sees in use. The quantized IR is
checked against the original model on the same images: the smallest cosine
between their outputs must reach :data:`INT8_MIN_COSINE`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pathlib
import tempfile
from typing import Any

from hub_core.errors import DataError, InvalidArgumentError

QUANTIZE = ("int8",)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# The target for int8 against float32 outputs on real images.
INT8_MIN_COSINE = 0.99
# NNCF's own default calibration subset.
MAX_CALIBRATION_IMAGES = 300


def check_arguments(format: str, quantize: str, calibration) -> None:
    """Refuse a quantization request that cannot be carried out, before anything is loaded.

    Raises:
        InvalidArgumentError: For another format than OpenVINO, an unknown scheme or no calibration folder.
    """
    if quantize not in QUANTIZE:
        raise InvalidArgumentError(f"quantize must be one of {', '.join(QUANTIZE)}, not {quantize!r}.")
    if format != "openvino":
        raise InvalidArgumentError(f"quantize={quantize!r} needs format='openvino', not {format!r}.")
    if calibration is None:
        raise InvalidArgumentError("quantize needs calibration=, a folder of real images like those the model will see.")


def calibration_files(folder: str | os.PathLike) -> list[pathlib.Path]:
    """The image files directly in ``folder``, sorted by name (at most :data:`MAX_CALIBRATION_IMAGES`).

    Raises:
        DataError: When ``folder`` is not a folder or holds no image file.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise DataError(f"Calibration folder {folder} does not exist; pass a folder of images.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"Calibration folder {folder} holds no image file ({', '.join(IMAGE_SUFFIXES)}); add real images.")
    return files[:MAX_CALIBRATION_IMAGES]


def calibration_images(model, folder: str | os.PathLike):
    """The calibration images of ``folder`` as the float32 batch ``hub.predict`` would feed ``model``."""
    from hub_core.training.predict import read_image_files

    return read_image_files(calibration_files(folder), model)


def write_int8_openvino(model, path: pathlib.Path, images) -> None:
    """Write ``model`` as an OpenVINO IR quantized to int8 by NNCF on ``images`` (one image per calibration step)."""
    import numpy as np

    from hub_core.console import native_stderr_silenced
    from hub_core.exporting import _write_openvino, runtime

    openvino = runtime("openvino", "openvino")
    nncf = runtime("nncf", "openvino int8")
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=_parent(path)) as tmp:
        float_ir = pathlib.Path(tmp) / "float.xml"
        _write_openvino(model, float_ir)
        float_model = openvino.Core().read_model(str(float_ir))
        batches = [np.asarray(image[None], dtype="float32") for image in images]
        nncf.set_log_level(logging.ERROR)
        with native_stderr_silenced(), contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars
            quantized = nncf.quantize(float_model, nncf.Dataset(batches), subset_size=len(batches))
        int8_ir = pathlib.Path(tmp) / "int8.xml"
        openvino.save_model(quantized, str(int8_ir))
        os.replace(int8_ir.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(int8_ir, path)


def check_int8(name: str, actual, expected) -> dict[str, Any]:
    """``{"quantize", "cosine", "calibration_images"}`` of an int8 export's outputs against the original's.

    Raises:
        ExportError: When the smallest per-image cosine is under :data:`INT8_MIN_COSINE`.
    """
    from hub_core.exporting import ExportError

    cosine = min_cosine(actual, expected)
    if not cosine >= INT8_MIN_COSINE:
        raise ExportError(f"The int8 export of {name} is too far from the model on the calibration images "
                          f"(cosine {cosine:.4f} < {INT8_MIN_COSINE}); it was removed. Try more or more typical images.")
    return {"quantize": "int8", "cosine": cosine, "calibration_images": len(expected)}


def min_cosine(actual, expected) -> float:
    """The smallest cosine similarity between matching rows of two output batches."""
    import numpy as np

    a = np.asarray(actual, dtype="float64").reshape(len(actual), -1)
    b = np.asarray(expected, dtype="float64").reshape(len(expected), -1)
    if a.shape != b.shape:
        return float("-inf")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(np.sum(a * b, axis=1) / np.maximum(norms, 1e-30)))


def _parent(path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent
