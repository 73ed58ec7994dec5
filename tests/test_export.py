"""hub.export: .keras, SavedModel, TFLite, ONNX, OpenVINO and int8 OpenVINO, each reloaded and compared."""

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


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("savedmodel", "saved"), ("tflite", "m.tflite"),
                                       ("onnx", "m.onnx"), ("openvino", "m.xml")])
def test_export_reloads_and_matches(tmp_path, fmt, name):
    model = small_model()
    images = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    report = hub.export(model, tmp_path / name, format=fmt, sample=images)
    assert report["max_abs_diff"] <= 1e-4 and (tmp_path / name).exists()
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(export_module._READERS[fmt](tmp_path / name, images), expected, atol=1e-4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"
    if fmt == "openvino":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]


def test_a_missing_runtime_names_the_extra_and_leaves_nothing(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now raises ImportError
    with pytest.raises(export_module.ExportError, match=r"needs tf2onnx, which is not installed; .*hub-core\[engines\]"):
        hub.export(small_model(), tmp_path / "m.onnx", format="onnx")
    assert list(tmp_path.iterdir()) == []


def calibration_folder(tmp_path, count=6):
    import shutil

    from image_helpers import foolbox_photos

    folder = tmp_path / "calibration"
    folder.mkdir()
    for photo in foolbox_photos()[:count]:
        shutil.copy(photo, folder)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_int8_openvino_export_is_quantized_and_close_to_the_model(tmp_path):
    import openvino

    from hub_core.exporting import quantize
    from hub_core.vision.imaging import read_image_files

    model = small_model()
    folder = calibration_folder(tmp_path)
    report = hub.export(model, tmp_path / "int8.xml", format="openvino", quantize="int8", calibration=folder)
    assert report["quantize"] == "int8" and report["calibration_images"] == 6
    ir = openvino.Core().read_model(str(tmp_path / "int8.xml"))
    assert "FakeQuantize" in {op.get_type_name() for op in ir.get_ops()}
    images = read_image_files(sorted(folder.glob("*.jpg")), model)  # what hub.predict feeds the model
    assert images.shape == (6, 16, 16, 3)
    expected = model.predict(images, verbose=0)
    actual = export_module._run_openvino(tmp_path / "int8.xml", images)
    cosines = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(actual, expected)]
    assert report["cosine"] == pytest.approx(min(cosines), abs=1e-6)
    assert report["cosine"] >= quantize.INT8_MIN_COSINE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration", "int8.bin", "int8.xml"]


def test_int8_needs_openvino_and_real_images(tmp_path):
    from hub_core.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="needs format='openvino'"):
        hub.export(small_model(), tmp_path / "m.onnx", format="onnx", quantize="int8", calibration=tmp_path)
    with pytest.raises(InvalidArgumentError, match="needs calibration="):
        hub.export(small_model(), tmp_path / "m.xml", format="openvino", quantize="int8")
    with pytest.raises(DataError, match="holds no images"):
        hub.export(small_model(), tmp_path / "m.xml", format="openvino", quantize="int8", calibration=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_int8_export_of_a_keras_file(tmp_path, capsys):
    hub.export(small_model(), tmp_path / "small.keras", format="keras")
    folder = calibration_folder(tmp_path, count=3)
    assert main(["export", str(tmp_path / "small.keras"), "--format", "openvino", "--quantize", "int8",
                 "--calibration", str(folder)]) == 0
    assert "on 3 calibration images" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["model.bin", "model.xml"]


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
        hub.export(small_model(), tmp_path / "m.pb", format="tensorrt")
    with pytest.raises(InvalidArgumentError, match="ending in .keras"):
        hub.export(small_model(), tmp_path / "m.h5", format="keras")
    with pytest.raises(InvalidArgumentError, match="ending in .xml"):
        hub.export(small_model(), tmp_path / "m.onnx", format="openvino")


def test_cli_export_of_a_run_directory(tmp_path, capsys):
    x = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 127).astype("int32")
    hub.train(small_model(), (x, y), epochs=1, run_dir=tmp_path / "run", verbose=0)
    assert main(["export", str(tmp_path / "run"), "--format", "tflite"]) == 0
    assert "exported tflite" in capsys.readouterr().out
    assert (tmp_path / "run" / "export" / "model.tflite").stat().st_size > 0


def test_an_int8_export_under_the_cosine_bound_is_removed(tmp_path):
    folder = calibration_folder(tmp_path, count=2)
    with pytest.raises(export_module.ExportError, match=r"too far from the model .* it was removed"):
        hub.export(small_model(), tmp_path / "int8.xml", format="openvino", quantize="int8", calibration=folder,
                   min_cosine=1.01)  # no cosine reaches it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration"]
