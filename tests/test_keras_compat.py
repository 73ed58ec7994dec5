"""Pins every private Keras use in ``hub_core._keras_compat``: each test fails when Keras changes it."""

from __future__ import annotations

import keras
import numpy as np

from hub_core import _keras_compat as compat


def _functional():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))


def test_is_functional_tells_functional_from_subclassed_models():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert compat.is_functional(_functional())
    assert not compat.is_functional(Subclassed())
    assert not compat.is_functional(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_producing_layer_names_the_layer_behind_a_symbolic_tensor():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    assert compat.producing_layer(dense(inputs)) is dense
    assert compat.producing_layer(np.zeros(3)) is None


def test_inbound_call_count_counts_calls_in_graphs():
    shared = keras.layers.Dense(2)
    a, b = keras.Input((2,)), keras.Input((2,))
    once = keras.layers.Dense(2)
    once(shared(a))
    shared(b)
    assert compat.inbound_call_count(shared) == 2
    assert compat.inbound_call_count(once) == 1


def test_direct_sublayers_lists_a_nested_models_children():
    inner = _functional()
    outer_inputs = keras.Input((4,))
    outer = keras.Model(outer_inputs, inner(outer_inputs))
    assert inner in compat.direct_sublayers(outer)
    assert {layer.name for layer in compat.direct_sublayers(inner)} >= {"hidden", "out"}
    assert compat.direct_sublayers(keras.layers.Dense(1)) == []


def test_variable_key_is_stable_and_distinct_per_variable():
    model = _functional()
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    keys = [compat.variable_key(optimizer, v) for v in model.trainable_variables]
    assert len(set(keys)) == len(keys)
    assert keys == [compat.variable_key(optimizer, v) for v in model.trainable_variables]


def test_built_variables_are_those_the_optimizer_was_built_with_in_order():
    model = _functional()
    optimizer = keras.optimizers.SGD()
    optimizer.build(model.trainable_variables)
    assert [v.path for v in compat.built_variables(optimizer)] == [v.path for v in model.trainable_variables]


def test_build_from_batch_builds_metrics_and_optimizer_before_fit():
    model = _functional()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    batch = (np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))
    compat.build_from_batch(model, batch)
    assert model.optimizer.built
    assert model.metrics_variables
    history = model.fit(*batch, epochs=1, verbose=0)  # Keras' own build is skipped and fit still works
    assert np.isfinite(history.history["loss"][0])


def test_every_compat_function_has_a_pinning_test_here():
    import inspect

    functions = {name for name, value in vars(compat).items()
                 if inspect.isfunction(value) and value.__module__ == compat.__name__}
    tested = {name for name in globals() if name.startswith("test_")}
    untested = [f for f in functions if not any(t.startswith(f"test_{f}_") for t in tested)]
    assert not untested, f"private Keras uses without a pinning test: {untested}"


def test_forget_step_traces_keeps_new_models_from_looking_like_retracing(caplog):
    import logging

    def predict_with_new_models(forget: bool) -> list[str]:
        compat.forget_step_traces()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tensorflow"):
            for _ in range(5):  # five models (the warning's threshold), each tracing its own predict function once
                if forget:
                    compat.forget_step_traces()
                _functional().predict(np.ones((2, 4), "float32"), verbose=0)
        return [r.getMessage() for r in caplog.records if "retracing" in r.getMessage()]

    assert predict_with_new_models(forget=False)  # TensorFlow counts every model's traces as one function's
    assert not predict_with_new_models(forget=True)
