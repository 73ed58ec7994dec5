"""Export a model to ``.keras``, a TF SavedModel, TFLite, ONNX or OpenVINO IR, and check the export.

Every export is reloaded the way a user would load it and run on the same
inputs as the original model; the largest absolute difference must stay
within ``atol`` or the export is deleted and :class:`ExportError` raised.
``.keras`` files are reloaded with Keras' safe mode on, so a model holding a
``Lambda`` layer (arbitrary Python code) is refused.

ONNX and OpenVINO go through Keras' own exporters (``model.export(format=...)``;
ONNX on the TensorFlow backend needs ``tf2onnx``), and are checked in
onnxruntime and OpenVINO (at float32 inference precision). TFLite is checked in
the ``ai-edge-litert`` interpreter. The ``engines`` extra installs these
runtimes: ``pip install 'hub-core[engines]'``.

TFLite, ONNX and OpenVINO get float32 graphs: a model built under a bfloat16
policy (``precision="auto"`` on most CPUs) is exported as its float32 twin: the
same architecture rebuilt under the float32 policy with the same weights and
BatchNorm folding off. Its export is checked against the original within
:data:`BFLOAT16_RTOL` of the original's output scale. (OpenVINO can still run
the float32 graph in bfloat16: see :mod:`hub_core.exporting.engines`.)

``quantize="int8"`` (OpenVINO only) quantizes the float32 IR with NNCF's
post-training quantization, calibrated on real images read the way
``hub.predict`` reads them (see :mod:`hub_core.exporting.quantize`). A model
ending in a softmax is quantized and checked as its logits (:func:`logits_twin`),
the softmax put back on the int8 IR: the cosine of two peaked probability
vectors falls to 0 when their top class differs, whatever the logits.

Example:
    >>> import hub_core as hub
    >>> hub.export("runs/flowers", "flowers.tflite", format="tflite")
    {'path': 'flowers.tflite', 'format': 'tflite', 'max_abs_diff': 1.2e-06}
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import Any

from hub_core import saving
from hub_core.console import native_stderr_silenced
from hub_core.errors import InvalidArgumentError
from hub_core.exporting.runtimes import ENGINES_HINT, ExportError, runtime
from hub_core.files import atomic_path

__all__ = ["FORMATS", "SUFFIXES", "ExportError", "export", "runtime", "ENGINES_HINT"]

FORMATS = ("keras", "savedmodel", "tflite", "onnx", "openvino")
SUFFIXES = {"keras": ".keras", "savedmodel": "", "tflite": ".tflite", "onnx": ".onnx", "openvino": ".xml"}
# Formats whose graphs are float32: a bfloat16 model is exported as its float32 twin.
FLOAT32_FORMATS = ("tflite", "onnx", "openvino")
# bfloat16 keeps 8 significant bits (a relative rounding error of 2**-9 per
# operation); across a deep network the float32 twin's outputs stay within
# 2**-5 of the bfloat16 model's output scale on ResNet and VGG, and within 2**-4
# on EfficientNet-Lite0 (depthwise convolutions: 0.042 on the labelled photos).
BFLOAT16_RTOL = 2.0**-4


def export(model: Any, path: str | os.PathLike, format: str = "keras", *, atol: float = 1e-4, rtol: float = 1e-4,
           sample: Any = None, quantize: str | None = None, calibration: str | os.PathLike | None = None,
           min_cosine: float | None = None) -> dict[str, Any]:
    """Export ``model`` to ``path`` and check the reloaded export against it.

    Args:
        model: A ``keras.Model``, a run directory or a ``.keras`` file.
        path: Output file (``.keras``/``.tflite``/``.onnx``/``.xml``) or directory (SavedModel). An OpenVINO
            export is two files: ``path`` (``.xml``) and its weights beside it (``.bin``).
        format: ``"keras"``, ``"savedmodel"``, ``"tflite"``, ``"onnx"`` or ``"openvino"``.
        atol: Largest allowed absolute difference between original and export outputs, plus ``rtol`` times
            the largest absolute output (float32 rounding grows with it: a stylised image's outputs are in
            0..255); for a bfloat16 model exported as its float32 twin at least ``BFLOAT16_RTOL`` times it.
        rtol: See ``atol``.
        sample: Inputs for the check (default: two random images in ``[0, 255]``
            of the model's input shape; with ``quantize``, the calibration images).
        quantize: ``"int8"`` for NNCF post-training quantization (``format="openvino"`` only).
        calibration: With ``quantize``: a folder of real images, read and resized like ``hub.predict`` does.
        min_cosine: With ``quantize``: the smallest mean cosine between int8 and original outputs accepted on
            the calibration images (default :data:`hub_core.exporting.quantize.INT8_MIN_COSINE`); for a model
            ending in a softmax, between the logits before it.

    Returns:
        ``{"path", "format", "max_abs_diff"}``; with ``quantize`` also ``"quantize"``, ``"cosine"`` and
        ``"smallest_cosine"`` (the mean and the smallest cosine between the int8 and the original outputs over
        the calibration images), ``"calibration_images"`` and ``"compared"``, which says what those outputs
        are: ``"logits"`` for a model ending in a softmax (the logits before it), else ``"outputs"``.

    Raises:
        InvalidArgumentError: For an unknown format, a bad path suffix, or ``quantize`` without a calibration folder.
        ExportError: When the export cannot be written or reloaded (e.g. a ``Lambda`` layer under safe mode,
            a missing runtime) or its outputs differ; nothing is left at ``path``.
    """
    import numpy as np

    if format not in FORMATS:
        raise InvalidArgumentError(f"format must be one of {', '.join(FORMATS)}, not {format!r}.")
    path = pathlib.Path(path)
    if format in ("keras", "onnx", "openvino") and path.suffix != SUFFIXES[format]:
        raise InvalidArgumentError(f"A {format} export needs a path ending in {SUFFIXES[format]}, not {path}.")
    if quantize is not None:
        from hub_core.exporting import quantize as quantizing

        quantizing.check_arguments(format, quantize, calibration)
    if not hasattr(model, "predict"):
        model = saving.open_saved(model)
    if quantize is not None:
        inputs = quantizing.calibration_images(model, calibration)
    else:
        inputs = _sample(model) if sample is None else sample
    expected = np.asarray(model.predict(inputs, verbose=0), dtype=np.float32)
    writer, reader = _WRITERS[format], _READERS[format]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    atol = atol + rtol * scale
    if format in FLOAT32_FORMATS and computes_in_bfloat16(model):
        model = _float32_twin(model, inputs)
        atol = max(atol, BFLOAT16_RTOL * scale)
    try:
        if quantize is not None:
            compared = _write_int8_openvino(model, path, inputs)
        else:
            writer(model, path)
        actual = np.asarray(reader(path, inputs), dtype=np.float32)
        diff = float(np.max(np.abs(actual - expected))) if actual.shape == expected.shape else float("inf")
        if quantize is not None:
            report = quantizing.check_int8(model.name, *compared, min_cosine=min_cosine)
        elif not diff <= atol:
            raise ExportError(
                f"The {format} export of {model.name} differs from the model (max abs difference {diff:.3g} > {atol:g}); "
                "it was removed."
            )
        else:
            report = {}
    except (ExportError, InvalidArgumentError):
        _remove(path)
        raise
    except Exception as error:  # the exporters' and reloading runtimes' own errors (TFLite raises RuntimeError)
        _remove(path)
        raise ExportError(f"The {format} export could not be written or reloaded and was removed: "
                          f"{_first_line(error)}") from error
    return {"path": str(path), "format": format, "max_abs_diff": diff, **report}


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") + "." if text else type(error).__name__ + "."


def computes_in_bfloat16(model) -> bool:
    """Whether any layer of ``model`` (nested models included) computes in bfloat16."""
    pending = list(model.layers)
    while pending:
        layer = pending.pop()
        if getattr(layer, "compute_dtype", None) == "bfloat16":
            return True
        pending.extend(getattr(layer, "layers", None) or ())
    return False


def _float32_twin(model, inputs=None):
    """``model`` rebuilt under the float32 policy with the same weights and BatchNorm folding off.

    With ``inputs``, the twin is called once on them (Keras' ONNX exporter refuses a model never called).
    """
    import keras

    return _rebuilt(model, _float32_policies(keras.saving.serialize_keras_object(model)), inputs)


def logits_twin(model, inputs=None):
    """``model`` without the softmax of its output, or None when its output is no softmax.

    A softmax output is a last ``Activation("softmax")``, a last layer with ``activation="softmax"`` (a ``Dense``
    classifier) or a last ``Softmax`` layer over the last axis, also inside a nested model; the twin has that
    softmax replaced by a linear activation, the same weights and BatchNorm folding off, so it computes the
    model's logits. With ``inputs``, the twin is called once on them.
    """
    import keras

    config = keras.saving.serialize_keras_object(model)
    layer = _output_layer(config)
    if layer is None or not _make_linear(layer):
        return None
    return _rebuilt(model, config, inputs)


def _make_linear(layer: dict) -> bool:
    """Replace the softmax of an output layer's config by a linear activation in place; False if it has none."""
    settings = layer.get("config", {})
    if settings.get("activation") == "softmax":
        settings["activation"] = "linear"
        return True
    if layer.get("module") != "keras.layers" or layer.get("class_name") != "Softmax" or settings.get("axis") not in (-1, [-1]):
        return False
    layer["class_name"] = "Activation"
    layer["config"] = {key: settings[key] for key in ("name", "trainable", "dtype") if key in settings}
    layer["config"]["activation"] = "linear"
    for node in layer.get("inbound_nodes", []):
        node.get("kwargs", {}).pop("mask", None)  # Activation takes no mask
    return True


def _output_layer(config):
    """The config of the layer that computes a model config's one output (inside nested models), or None."""
    while isinstance(config, dict) and isinstance(config.get("config"), dict) and "layers" in config["config"]:
        layers = config["config"]["layers"]
        outputs = config["config"].get("output_layers")
        if outputs is None:  # a Sequential: its last layer
            config = layers[-1] if layers else None
            continue
        if outputs and isinstance(outputs[0], list):
            if len(outputs) != 1:
                return None
            outputs = outputs[0]
        config = next((layer for layer in layers if layer.get("config", {}).get("name") == outputs[0]), None)
    return config


def _rebuilt(model, config, inputs=None):
    """The model of ``config`` (``model``'s, edited) with ``model``'s weights and BatchNorm folding off."""
    import keras

    from hub_core.vision.layers import set_batchnorm_folding

    twin = keras.saving.deserialize_keras_object(config)
    twin.set_weights(model.get_weights())  # mixed_bfloat16 keeps float32 variables: nothing is rounded
    set_batchnorm_folding(twin, False)
    if inputs is not None:
        twin.predict(inputs if isinstance(inputs, dict) else inputs[:1], verbose=0)
    return twin


def _float32_policies(config):
    """``config`` with every bfloat16 dtype policy replaced by ``float32``."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and "bfloat16" in str(config.get("config", {}).get("name")):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config


def _sample(model):
    import numpy as np

    if isinstance(getattr(model, "input", None), dict):  # named columns (tabular): 1-D columns of "" or 0
        return {name: np.array(["", ""], dtype=object) if tensor.dtype == "string" else np.zeros(2, tensor.dtype)
                for name, tensor in model.input.items()}
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is None or len(model.inputs) != 1 or any(d is None for d in shape[1:]):
        raise InvalidArgumentError(f"Cannot make check inputs for {model.name}; pass sample= with a batch of inputs.")
    return np.random.default_rng(0).uniform(0, 255, size=(2, *shape[1:])).astype("float32")


def _remove(path: pathlib.Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
        if path.suffix == ".xml":  # an OpenVINO IR's weights
            path.with_suffix(".bin").unlink(missing_ok=True)


def _write_keras(model, path: pathlib.Path) -> None:
    saving.save_model(model, path)


def _run_keras(path: pathlib.Path, inputs):
    return saving.load_keras(path).predict(inputs, verbose=0)


def _write_savedmodel(model, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        target = tmp / "model"
        model.export(str(target), format="tf_saved_model", verbose=False)
        if path.exists():
            _remove(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_savedmodel(path: pathlib.Path, inputs):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if isinstance(inputs, dict):  # 1-D columns become the signature's (batch, 1)
        return loaded.serve({k: tf.reshape(tf.constant(v), (len(v), -1)) for k, v in inputs.items()}).numpy()
    return loaded.serve(tf.constant(inputs)).numpy()


def _write_tflite(model, path: pathlib.Path) -> None:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        saved = pathlib.Path(tmp) / "saved"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        with native_stderr_silenced():
            flatbuffer = converter.convert()
    with atomic_path(path) as tmp_file:
        tmp_file.write_bytes(flatbuffer)


def _run_tflite(path: pathlib.Path, inputs):
    import numpy as np

    interpreter_module = runtime("ai_edge_litert.interpreter", "tflite")
    with native_stderr_silenced():
        interpreter = interpreter_module.Interpreter(model_path=str(path))
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], list(np.shape(inputs)))
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], np.asarray(inputs, dtype=detail["dtype"]))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _write_onnx(model, path: pathlib.Path) -> None:
    runtime("tf2onnx", "onnx")
    with atomic_path(path) as tmp_file, native_stderr_silenced():
        model.export(str(tmp_file), format="onnx", verbose=False)


def _run_onnx(path: pathlib.Path, inputs):
    import numpy as np

    onnxruntime = runtime("onnxruntime", "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(inputs, dtype="float32")})[0]


def _write_openvino(model, path: pathlib.Path) -> None:
    """The IR (``path``) and its weights (``.bin``); the weights are moved into place first, the ``.xml`` last."""
    runtime("openvino", "openvino")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        target = pathlib.Path(tmp) / "model.xml"
        with native_stderr_silenced():
            model.export(str(target), format="openvino", verbose=False)
        os.replace(target.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(target, path)


def _write_int8_openvino(model, path: pathlib.Path, images):
    """The float32 IR written to a temporary folder beside ``path``, quantized by NNCF on ``images`` into ``path``.

    A model whose output is a softmax is quantized as its :func:`logits_twin`, the softmax put back on the int8 IR.

    Returns:
        ``(int8, original, compared)``: the outputs the int8 check compares on ``images`` and what they are,
        ``"logits"`` for a softmax output, else ``"outputs"``.
    """
    from hub_core.exporting import quantize

    twin = logits_twin(model, images)
    compared = model if twin is None else twin
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        float_ir = pathlib.Path(tmp) / "float.xml"
        _write_openvino(compared, float_ir)
        actual = quantize.write_int8_openvino(float_ir, path, images, softmax=twin is not None)
    return actual, compared.predict(images, verbose=0), "outputs" if twin is None else "logits"


def _run_openvino(path: pathlib.Path, inputs):
    import numpy as np

    openvino = runtime("openvino", "openvino")
    compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(np.asarray(inputs, dtype="float32"))[compiled.output(0)]


_WRITERS = {"keras": _write_keras, "savedmodel": _write_savedmodel, "tflite": _write_tflite, "onnx": _write_onnx,
            "openvino": _write_openvino}
_READERS = {"keras": _run_keras, "savedmodel": _run_savedmodel, "tflite": _run_tflite, "onnx": _run_onnx,
            "openvino": _run_openvino}
