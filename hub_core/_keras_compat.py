"""Every use of private Keras API in hub_core, in one place.

Keras 3 has no public API for these; each function is pinned by a test in
``tests/test_keras_compat.py`` that fails when Keras changes what it relies on.
Code elsewhere in the core calls these functions and never touches a private
Keras name itself. Keras is imported inside the functions, so importing this
module stays light.
"""

from __future__ import annotations

from typing import Any


def is_functional(model) -> bool:
    """Whether ``model`` is a functional (graph) model, whose layers can be re-wired and cloned.

    Subclassed models are not, and neither is ``keras.Sequential`` (which wraps a functional model).
    """
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def producing_layer(tensor) -> Any | None:
    """The layer whose call produced the symbolic ``tensor`` (``KerasTensor._keras_history``), or None."""
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None)


def inbound_call_count(layer) -> int:
    """How many times ``layer`` was called in functional graphs (its inbound nodes)."""
    return len(layer._inbound_nodes)


def direct_sublayers(layer) -> list:
    """The layers tracked directly inside ``layer`` (a model's or a composite layer's children)."""
    return list(getattr(layer, "_layers", None) or [])


def variable_key(optimizer, variable) -> Any:
    """The key under which ``optimizer`` tracks ``variable`` (stable across distribution strategies)."""
    return optimizer._var_key(variable)


def built_variables(optimizer) -> list:
    """The variables ``optimizer`` was built with (what JAX's stateless step applies gradients to, unnamed)."""
    return list(optimizer._trainable_variables)


def build_from_batch(model, batch) -> None:
    """Build ``model``'s layers, loss, metrics and optimizer from one local ``batch``, then skip Keras' own build in ``fit``.

    Keras' build step in ``fit`` reduces a distributed batch across workers,
    which fails under ``MultiWorkerMirroredStrategy``; building first from a
    local batch makes it unnecessary.
    """
    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def forget_step_traces() -> None:
    """Forget TensorFlow's count of the traces of Keras' train, test and predict step functions.

    TensorFlow warns of retracing when five of the last ten calls of one Python function traced. It counts by the
    function's code, which the step functions of every Keras model share, so the first traces of each new model
    (a sweep's trials, runs one after another in one process) add up to a warning about retracing that did not
    happen. Forgetting the count when a run starts keeps real retracing within a run reported.
    """
    from keras.src.backend.tensorflow import trainer
    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    manager = polymorphic_function._frequent_tracing_detector_manager
    with manager._lock:
        for code in [c for c in manager._detectors if getattr(c, "co_filename", None) == trainer.__file__]:
            del manager._detectors[code]
