"""hub.export: .keras, SavedModel and TFLite, each reloaded and compared; Lambda refused under safe mode."""

from __future__ import annotations

import numpy as np
import pytest

import hub_core as hub
from hub_core import exporting as export_module
from hub_core.cli.main import main
from hub_core.errors import DataError


def small_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("savedmodel", "saved"), ("tflite", "m.tflite")])
def test_export_reloads_and_matches(tmp_path, fmt, name):
    model = small_model()
    images = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    report = hub.export(model, tmp_path / name, format=fmt, sample=images)
    assert report["max_abs_diff"] <= 1e-4 and (tmp_path / name).exists()
    expected = model.predict(images, verbose=0)
    reread = export_module._run_keras if fmt == "keras" else (
        export_module._run_savedmodel if fmt == "savedmodel" else export_module._run_tflite)
    np.testing.assert_allclose(reread(tmp_path / name, images), expected, atol=1e-4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_keras_file_with_lambda_layer_is_refused(tmp_path):
    import keras

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(outputs))
    with pytest.raises(export_module.ExportError, match="Lambda"):
        hub.export(model, tmp_path / "lambda.keras", format="keras")
    assert not (tmp_path / "lambda.keras").exists()
    model.save(tmp_path / "plain_save.keras")  # written by Keras itself
    with pytest.raises(DataError, match="Lambda layer"):
        hub.load(tmp_path / "plain_save.keras")


def test_unknown_format_and_bad_suffix(tmp_path):
    from hub_core.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="format must be one of"):
        hub.export(small_model(), tmp_path / "m.onnx", format="onnx")
    with pytest.raises(InvalidArgumentError, match="ending in .keras"):
        hub.export(small_model(), tmp_path / "m.h5", format="keras")


def test_cli_export_of_a_run_directory(tmp_path, capsys):
    x = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 127).astype("int32")
    hub.train(small_model(), (x, y), epochs=1, run_dir=tmp_path / "run", verbose=0)
    assert main(["export", str(tmp_path / "run"), "--format", "tflite"]) == 0
    assert "exported tflite" in capsys.readouterr().out
    assert (tmp_path / "run" / "export" / "model.tflite").stat().st_size > 0
