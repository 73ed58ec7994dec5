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


def build_from_batch(model, batch) -> None:
    """Build ``model``'s layers, loss, metrics and optimizer from one local ``batch``, then skip Keras' own build in ``fit``.

    Keras' build step in ``fit`` reduces a distributed batch across workers,
    which fails under ``MultiWorkerMirroredStrategy``; building first from a
    local batch makes it unnecessary.
    """
    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
