"""Inference engines for ``hub.predict``: Keras, OpenVINO and ONNX Runtime.

An engine other than Keras runs an export of the model made by
:func:`hub_core.exporting.export` (so checked against the model in float32)
and cached under ``$HUB_CORE_HOME/engines/KEY/``, where ``KEY`` hashes the
model's architecture and weights: a second call with the same model does not
export again. ``hub cache ls|verify|clear`` list, check and delete these exports
(:mod:`hub_core.store.cache`).

- ``openvino`` runs the OpenVINO IR on the CPU with the ``LATENCY`` performance
  hint (on this project's 2-core CPU it beat ``THROUGHPUT``: see
  ``benchmarks/bench_engines.py``) and, where the CPU computes bfloat16
  natively (``BF16`` in its optimisation capabilities), the ``bf16``
  inference-precision hint.
- ``onnxruntime`` runs the ONNX export with onnxruntime's CPU provider, in float32.
- ``auto`` (the default) tries :data:`AUTO_ORDER` (OpenVINO, at f32 when bf16
  disagrees; onnxruntime for a float32 model only; Keras) and takes the fastest on the first batch of those
  that are installed, can export the model and agree with Keras on that batch:
  the largest absolute difference must stay within :func:`agreement_rtol` of the
  largest absolute Keras output (see :func:`choose`).
  With a GPU visible to TensorFlow, ``auto`` is Keras.

The runtimes come with the ``engines`` extra: ``pip install 'hub-core[engines]'``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import weakref
from typing import Any, Callable

from hub_core.errors import HubError, InvalidArgumentError
from hub_core.store import cache

ENGINES = ("auto", "keras", "openvino", "onnxruntime")
# The candidates of engine="auto", which takes the fastest that agrees. onnxruntime is tried only
# for a float32 Keras model: Keras' bfloat16 path beat it (resnet50 at batch 8, 2 cores: OpenVINO bf16 59 img/s,
# Keras under precision="auto" 43, onnxruntime 26, Keras float32 22; benchmarks/bench_engines.py).
AUTO_ORDER = ("openvino", "onnxruntime", "keras")
FORMATS = {"openvino": "openvino", "onnxruntime": "onnx"}
# Agreement bounds, as fractions of the largest Keras output: each bfloat16 side (engine or Keras model) may be
# hub_core.exporting.BFLOAT16_RTOL off float32; two float32 sides agree within FLOAT32_AGREEMENT_RTOL (measured:
# 4e-6). A broken export (lost preprocessing, wrong layout) is off by the output scale itself.
FLOAT32_AGREEMENT_RTOL = 1e-3
OPENVINO_HINT = "LATENCY"
# Images of the first batch compared with Keras, and runs on them timed per agreeing engine, under engine="auto".
AGREEMENT_IMAGES = 2
TIMED_RUNS = 3
# engine="auto"'s choice per model object, with the state it was made for (see choose).
_CHOSEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class EngineError(HubError):
    """An inference engine could not run a model."""


class Engine:
    """A callable ``batch -> outputs`` (float32 numpy) with its engine ``name`` and ``precision``."""

    def __init__(self, name: str, run: Callable[[Any], Any], precision: str = "float32"):
        self.name = name
        self.precision = precision
        self._run = run
        self._lock = threading.Lock()  # one batch at a time: an OpenVINO request is not for concurrent use

    def __call__(self, batch):
        import numpy as np

        with self._lock:
            return np.asarray(self._run(np.ascontiguousarray(batch, dtype="float32")), dtype="float32")

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, precision={self.precision!r})"


def installed(name: str) -> bool:
    """Whether the runtime of engine ``name`` can be imported (Keras always can)."""
    return name == "keras" or importlib.util.find_spec(name) is not None


def supports(model) -> bool:
    """Whether ``model`` can run outside Keras: one array input and one output."""
    inputs = getattr(model, "inputs", None)
    return (inputs is not None and len(inputs) == 1 and not isinstance(model.input, dict)
            and len(model.outputs) == 1)


def open_engine(model, name: str, *, precision: str | None = None, hint: str = OPENVINO_HINT,
                sample: Any = None) -> Engine:
    """An :class:`Engine` that runs ``model`` on ``name`` (``"keras"``, ``"openvino"`` or ``"onnxruntime"``).

    Args:
        model: A ``keras.Model`` with one array input and one output (any model for ``"keras"``).
        name: The engine.
        precision: OpenVINO's inference precision, ``"bf16"`` or ``"f32"`` (default: ``"bf16"`` where the CPU
            computes it natively).
        hint: OpenVINO's performance hint, ``"LATENCY"`` or ``"THROUGHPUT"``.
        sample: Inputs for the export's check on its first export (default: random images).

    Raises:
        InvalidArgumentError: For an unknown engine, or a model the engine cannot run.
        ExportError: When the runtime is missing or the export fails its check.
    """
    if name == "keras":
        return Engine("keras", model.predict_on_batch, _keras_precision(model))
    if name not in FORMATS:
        raise InvalidArgumentError(f"engine must be one of {', '.join(ENGINES)}, not {name!r}.")
    if not supports(model):
        raise InvalidArgumentError(f"The {name} engine runs models with one array input and one output; "
                                   f"{model.name} has other inputs or outputs: use engine='keras'.")
    path = cached_export(model, FORMATS[name], sample=sample)
    if name == "openvino":
        return openvino_engine(path, precision=precision, hint=hint)
    return onnxruntime_engine(path)


def openvino_engine(path: str | os.PathLike, *, precision: str | None = None, hint: str = OPENVINO_HINT) -> Engine:
    """An :class:`Engine` running the OpenVINO IR at ``path`` on the CPU (see :func:`open_engine`)."""
    from hub_core.exporting.runtimes import runtime

    openvino = runtime("openvino", "openvino")
    core = openvino.Core()
    if precision is None:
        precision = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
    compiled = core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": hint})
    request = compiled.create_infer_request()
    output = compiled.output(0)
    return Engine("openvino", lambda batch: request.infer([batch])[output], precision)


def onnxruntime_engine(path: str | os.PathLike) -> Engine:
    """An :class:`Engine` running the ONNX file at ``path`` with onnxruntime's CPU provider."""
    from hub_core.exporting.runtimes import runtime

    onnxruntime = runtime("onnxruntime", "onnx")
    options = onnxruntime.SessionOptions()
    # Its idle threads would otherwise spin after each run, taking the CPU from whatever runs next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return Engine("onnxruntime", lambda batch: session.run(None, {input_name: batch})[0])


def choose(model, sample, *, weights_frozen: bool = False) -> Engine:
    """The fastest engine on ``sample`` of those installed that export ``model`` and agree with Keras on it.

    The candidates are :data:`AUTO_ORDER`'s: OpenVINO (at its default precision, or f32 when that disagrees),
    onnxruntime (for a float32 Keras model only) and Keras itself, which always qualifies. Each candidate that agrees is timed on
    ``sample`` (the best of :data:`TIMED_RUNS` runs, in turns, after the agreement check's, which warms it up)
    and the fastest is returned: which engine wins depends on the model (OpenVINO bf16 for the ImageNet classifiers;
    for fast_style_lite, whose bf16 outputs disagree, onnxruntime, OpenVINO f32 and Keras come within 30% of each
    other: see ``benchmarks/bench_style_speed.py``).
    The choice is remembered for this model object while its weights stay the same, so a second call neither
    exports, compiles nor times anything. ``weights_frozen=True`` is the caller's promise that they never change:
    the remembered choice is then kept without hashing the weights again on each call.

    Says once per process, on stderr, how to install the faster engines when none is installed.
    """
    import numpy as np

    keras_engine = open_engine(model, "keras")
    if not supports(model) or _gpu_visible():
        return keras_engine
    remembered = _CHOSEN.get(model)
    if remembered is not None and weights_frozen:
        return remembered[1]
    state = _state_key(model)
    if remembered is not None and remembered[0] == state:
        return remembered[1]
    sample = np.asarray(sample, dtype="float32")[:AGREEMENT_IMAGES]
    expected = keras_engine(sample)
    agreeing = [keras_engine]
    for name in AUTO_ORDER:
        if name == "keras" or not installed(name) or (name == "onnxruntime" and _keras_precision(model) == "bfloat16"):
            continue
        try:
            engine = open_engine(model, name, sample=sample)
            if name == "openvino" and engine.precision != "f32" and not _agrees_with(engine, sample, expected, model):
                engine = open_engine(model, name, precision="f32", sample=sample)  # the same export, compiled again
        except HubError:
            continue
        if _agrees_with(engine, sample, expected, model):
            agreeing.append(engine)
    if not any(installed(name) for name in FORMATS):
        _tell_engines_missing()
    chosen = keras_engine
    if len(agreeing) > 1:
        # In turns (A, B, C, A, B, C...), so that a passing slowdown of the machine does not pick the engine.
        rounds = [[_seconds(engine, sample) for engine in agreeing] for _ in range(TIMED_RUNS)]
        best = [min(times) for times in zip(*rounds)]
        chosen = agreeing[best.index(min(best))]
    _CHOSEN[model] = (state, chosen)
    return chosen


def _agrees_with(engine: Engine, sample, expected, model) -> bool:
    return agrees(engine(sample), expected, agreement_rtol(engine.precision, _keras_precision(model)))


def _seconds(engine: Engine, sample) -> float:
    """The wall time of one run of ``engine`` on ``sample``."""
    import time

    start = time.perf_counter()
    engine(sample)
    return time.perf_counter() - start


def _state_key(model) -> str:
    """What a remembered choice for ``model`` depends on: its weights and the layers' precision."""
    from hub_core import saving

    return f"{_keras_precision(model)}:{saving.weights_hash(model.weights, paths=False)}"


def agreement_rtol(*precisions: str) -> float:
    """The agreement bound between these precisions (Keras or OpenVINO names), as a fraction of the output scale."""
    from hub_core.exporting import BFLOAT16_RTOL

    bfloat16_sides = sum(precision in ("bfloat16", "bf16") for precision in precisions)
    return bfloat16_sides * BFLOAT16_RTOL if bfloat16_sides else FLOAT32_AGREEMENT_RTOL


def agrees(actual, expected, rtol: float) -> bool:
    """Whether ``actual`` is within ``rtol`` of ``expected``'s largest absolute value, everywhere."""
    import numpy as np

    if np.shape(actual) != np.shape(expected):
        return False
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    return bool(np.all(np.abs(actual - expected) <= rtol * scale + 1e-6))


def cached_export(model, format: str, *, sample: Any = None) -> pathlib.Path:
    """The checked ``format`` export of ``model`` in the engine cache, exported on first use only."""
    import filelock

    from hub_core import exporting

    folder = cache.engines_dir()
    entry = folder / cache_key(model, format)
    path = entry / f"model{exporting.SUFFIXES[format]}"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(cache.engine_lock_path(entry.name))):
        if path.exists():  # exported by another process meanwhile
            return path
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=folder))
        try:
            exporting.export(model, tmp / path.name, format=format, sample=sample)
            cache.write_export_record(tmp, model.name, format)
            os.replace(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def cache_key(model, format: str) -> str:
    """Hash of ``model``'s architecture, layer code and weights, the export format and the Keras version.

    Layer names are replaced by their position, so the same model built again (when Keras numbers its automatic
    names on) has the same key. The source of every layer class that is not Keras' own is part of the key, so a
    changed ``call`` (the same configuration and weights) is exported again.
    """
    import keras

    from hub_core import saving

    layers = _layers(model)
    text = model.to_json()
    names = sorted({model.name, *(layer.name for layer in layers)}, key=lambda name: (-len(name), name))
    for position, name in enumerate(names):
        text = text.replace(json.dumps(name), f'"#{position}"')
    code = "".join(_source(cls) for cls in sorted({type(layer) for layer in layers}, key=lambda cls: cls.__qualname__)
                   if not cls.__module__.startswith("keras."))
    text = f"{format}:{keras.__version__}:{text}:{code}:{saving.weights_hash(model.weights, paths=False)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _layers(model) -> list:
    """The layers of ``model`` and those of nested models."""
    found, pending = [], list(model.layers)
    while pending:
        layer = pending.pop()
        found.append(layer)
        pending.extend(getattr(layer, "layers", None) or ())
    return found


def _source(cls) -> str:
    import inspect

    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):  # defined where no source is kept (an interactive session)
        return cls.__qualname__


def _keras_precision(model) -> str:
    from hub_core import exporting

    return "bfloat16" if exporting.computes_in_bfloat16(model) else "float32"


def _gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@functools.cache
def _tell_engines_missing() -> None:
    print("hub: predicting with Keras; for faster CPU inference (OpenVINO, ONNX Runtime) install the engines "
          "extra: pip install 'hub-core[engines]'", file=sys.stderr)
