"""``jit_compile``: the option reaches the model that trains, from ``hub.train`` and from ``hub train --jit-compile``."""

from __future__ import annotations

import numpy as np
import pytest

import hub_core as hub
from hub_core.errors import InvalidArgumentError
from hub_core.training.options import JIT_COMPILE_AUTO, FitOptions


def _dense_model():
    import keras

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(8, activation="relu")(inputs)))


def _seen_during_fit():
    """A callback recording the trained model's ``jit_compile`` at the first batch."""
    import keras

    class Seen(keras.callbacks.Callback):
        values: list = []

        def on_train_batch_begin(self, batch, logs=None):
            Seen.values.append(self.model.jit_compile)

    Seen.values = []
    return Seen


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


@pytest.mark.parametrize("choice", [True, False])
def test_jit_compile_reaches_the_compiled_model(arrays, choice):
    seen = _seen_during_fit()
    result = hub.train(_dense_model, arrays, epochs=1, batch_size=16, jit_compile=choice, callbacks=[seen()], verbose=0)
    assert seen.values and all(value is choice for value in seen.values)
    assert result.model.jit_compile is choice


def test_auto_is_the_measured_choice_for_the_plugins_task(random_captcha_arrays):
    seen = _seen_during_fit()
    hub.train("captcha_inverted10", random_captcha_arrays, epochs=1, batch_size=4, num_classes=10, callbacks=[seen()], verbose=0)
    assert seen.values[0] is JIT_COMPILE_AUTO["image-classification"]


@pytest.fixture(scope="module")
def random_captcha_arrays():
    rng = np.random.default_rng(1)
    return (rng.integers(0, 256, (8, 28, 280, 3)).astype("float32"), rng.integers(0, 2, (8, 10)).astype("float32"))


def test_jit_compile_refuses_other_values():
    with pytest.raises(InvalidArgumentError, match="jit_compile must be 'auto', True or False"):
        FitOptions(jit_compile="yes")


def test_cli_flag_reaches_hub_train(monkeypatch, tmp_path):
    from hub_core.cli import training
    from hub_core.cli.main import build_parser

    captured = {}
    monkeypatch.setattr(training, "load_training_data", lambda args, model: (None, None))
    monkeypatch.setattr(hub, "train", lambda model, train, validation, **options: captured.update(options) or
                        type("Result", (), {"final": {}, "best": None, "run_dir": tmp_path})())
    for flag, expected in (("on", True), ("off", False), ("auto", "auto")):
        args = build_parser(["train"]).parse_args(["train", "resnet20", "--data", str(tmp_path), "--out",
                                                   str(tmp_path / "run"), "--jit-compile", flag])
        training.fit_command(args)
        assert captured["jit_compile"] == expected
