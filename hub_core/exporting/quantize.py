"""INT8 post-training quantization of an OpenVINO export with NNCF, calibrated on real images.

The calibration images are read from a folder exactly as ``hub.predict`` reads
image files for the same model (decoded upright, center-cropped and resized to
its input size); a model whose preprocessing is a layer gets it inside the
graph, so NNCF sees the activations the model sees in use. The quantized IR is
checked against the original model on the same images: the smallest cosine
between their outputs must reach :data:`INT8_MIN_COSINE`.

NNCF's defaults are kept but two:

- Activations are quantized per tensor. NNCF otherwise gives the inputs of
  depthwise convolutions one range per channel, each the largest value that
  channel reached on the calibration images; a few dozen images leave many
  channels a range too small for other photos, which are then clipped.
  Models without depthwise convolutions quantize as before.
- On a CPU with VNNI/AMX int8 dot products, no overflow fix: NNCF otherwise
  keeps the first layer's weights in 7 bits, against int16 saturation on CPUs
  without them (an IR quantized on such a CPU and run on an older one can
  saturate there; one quantized on the older CPU keeps the fix).

On EfficientNet-Lite0 (16 depthwise convolutions, ReLU6 before each; the
stem convolution sees raw 0..255 pixels, its preprocessing folded in) they
took the mean logit cosine to float32 on 200 crops of unseen photos from
0.961 to 0.990 (per-tensor activations) and 0.994 (both), the minimum from
0.883 to 0.960, at the same speed (``benchmarks/bench_engines.py --int8-accuracy``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pathlib
import tempfile
from typing import Any

from hub_core.errors import InvalidArgumentError

QUANTIZE = ("int8",)
# The target for int8 against float32 outputs on real images.
INT8_MIN_COSINE = 0.99
# NNCF's own default calibration subset.
MAX_CALIBRATION_IMAGES = 300
# CPU flags of int8 dot-product instructions, which accumulate without the int16 saturation NNCF's overflow fix avoids.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


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


def calibration_images(model, folder: str | os.PathLike):
    """The images in ``folder`` and its sub-folders (at most :data:`MAX_CALIBRATION_IMAGES`, by name) as the
    float32 batch ``hub.predict`` would feed ``model``.

    Raises:
        DataError: When ``folder`` does not exist or holds no image.
    """
    from hub_core.vision import imaging

    return imaging.read_image_files(imaging.list_images(folder)[:MAX_CALIBRATION_IMAGES], model)


def write_int8_openvino(float_ir: pathlib.Path, path: pathlib.Path, images) -> None:
    """Write the float32 OpenVINO IR ``float_ir`` quantized to int8 by NNCF on ``images`` (one per step) to ``path``."""
    import numpy as np

    from hub_core.console import native_stderr_silenced
    from hub_core.exporting.runtimes import runtime

    openvino = runtime("openvino", "openvino")
    nncf = runtime("nncf", "openvino int8")
    float_model = openvino.Core().read_model(str(float_ir))
    batches = [np.asarray(image[None], dtype="float32") for image in images]
    nncf.set_log_level(logging.ERROR)
    with native_stderr_silenced(), contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars
        quantized = nncf.quantize(float_model, nncf.Dataset(batches), subset_size=len(batches),
                                  advanced_parameters=advanced_parameters(nncf))
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        int8_ir = pathlib.Path(tmp) / "int8.xml"
        openvino.save_model(quantized, str(int8_ir))
        os.replace(int8_ir.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(int8_ir, path)


def advanced_parameters(nncf):
    """NNCF's advanced quantization parameters for :func:`write_int8_openvino`: activations per tensor and, on a
    CPU with int8 dot products (:data:`VNNI_FLAGS`), no overflow fix."""
    from nncf.quantization.advanced_parameters import OverflowFix, QuantizationParameters

    from hub_core.vision.precision import _cpu_flags

    return nncf.AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(per_channel=False),
        overflow_fix=OverflowFix.DISABLE if _cpu_flags() & VNNI_FLAGS else None)  # None: NNCF's choice


def check_int8(name: str, actual, expected, min_cosine: float | None = None) -> dict[str, Any]:
    """``{"quantize", "cosine", "calibration_images"}`` of an int8 export's outputs against the original's.

    Raises:
        ExportError: When the smallest per-image cosine is under ``min_cosine`` (default :data:`INT8_MIN_COSINE`).
    """
    from hub_core.exporting.runtimes import ExportError

    bound = INT8_MIN_COSINE if min_cosine is None else float(min_cosine)
    cosine = smallest_cosine(actual, expected)
    if not cosine >= bound:
        raise ExportError(f"The int8 export of {name} is too far from the model on the calibration images "
                          f"(cosine {cosine:.4f} < {bound}); it was removed. Try more or more typical images.")
    return {"quantize": "int8", "cosine": cosine, "calibration_images": len(expected)}


def smallest_cosine(actual, expected) -> float:
    """The smallest cosine similarity between matching rows of two output batches."""
    import numpy as np

    a = np.asarray(actual, dtype="float64").reshape(len(actual), -1)
    b = np.asarray(expected, dtype="float64").reshape(len(expected), -1)
    if a.shape != b.shape:
        return float("-inf")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(np.sum(a * b, axis=1) / np.maximum(norms, 1e-30)))
