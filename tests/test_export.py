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


def peaked_classifier(seed=5):
    """An untrained classifier whose softmax is nearly one-hot (large logits): int8 flips the top class of a photo
    now and then, which takes the cosine of the two probability vectors to about 0 while the logits stay close."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    head = keras.layers.Dense(10, activation="softmax", name="predictions",
                              kernel_initializer=keras.initializers.RandomNormal(stddev=30.0))
    return keras.Model(inputs, head(x))


def test_int8_export_of_a_softmax_classifier_is_checked_on_its_logits(tmp_path):
    import openvino

    from hub_core.exporting import quantize
    from hub_core.vision.imaging import read_image_files

    model = peaked_classifier()
    folder = calibration_folder(tmp_path, count=12)
    report = hub.export(model, tmp_path / "int8.xml", format="openvino", quantize="int8", calibration=folder)
    assert report["quantize"] == "int8" and report["calibration_images"] == 12 and report["compared"] == "logits"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration", "int8.bin", "int8.xml"]
    core = openvino.Core()
    ir = core.read_model(str(tmp_path / "int8.xml"))
    assert "FakeQuantize" in {op.get_type_name() for op in ir.get_ops()}
    softmax = ir.get_results()[0].input_value(0).get_node()
    assert softmax.get_type_name() == "Softmax"
    images = read_image_files(sorted(folder.glob("*.jpg")), model)  # what hub.predict feeds the model
    assert images.shape == (12, 32, 32, 3)
    # The int8 logits: the saved IR cut before its softmax; the float32 ones: the classifier's matmul in numpy.
    logits_ir = core.compile_model(openvino.Model([softmax.input_value(0)], ir.get_parameters()), "CPU",
                                   {"INFERENCE_PRECISION_HINT": "f32"})
    int8_logits = logits_ir(images)[0]
    import keras

    pooled = keras.Model(model.input, model.get_layer("pool").output).predict(images, verbose=0)
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = pooled @ kernel + bias
    cosines = np.sum(int8_logits * logits, 1) / np.linalg.norm(int8_logits, axis=1) / np.linalg.norm(logits, axis=1)
    assert report["cosine"] == pytest.approx(np.mean(cosines), abs=1e-5)
    assert report["cosine"] >= quantize.INT8_MIN_COSINE  # the default bound
    assert report["smallest_cosine"] == pytest.approx(np.min(cosines), abs=1e-5)
    probabilities = export_module._run_openvino(tmp_path / "int8.xml", images)  # the export computes the model's
    shifted = np.exp(int8_logits - int8_logits.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities, shifted / shifted.sum(1, keepdims=True), atol=1e-6)


def test_the_logits_twin_drops_a_final_softmax_wherever_the_model_keeps_it():
    import keras

    keras.utils.set_random_seed(0)
    dense = small_model()  # Dense(activation="softmax")
    sequential = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Activation("softmax")])
    inputs = keras.Input((6,))
    nested = keras.Model(inputs, sequential(inputs))  # the softmax inside a nested model
    layer = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(5)(inputs)))  # a Softmax layer
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    vectors = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    for model, x in ((dense, images), (sequential, vectors), (nested, vectors), (layer, vectors)):
        probabilities = keras.ops.convert_to_numpy(model(x))
        logits = keras.ops.convert_to_numpy(export_module.logits_twin(model)(x))
        shift = logits - np.log(probabilities)  # logits and log-probabilities differ by one constant per row
        np.testing.assert_allclose(shift, shift[:, :1].repeat(shift.shape[1], 1), atol=1e-4)
        assert not np.allclose(logits, probabilities, atol=1e-2)
    features = keras.Model(dense.input, dense.get_layer("predictions").input)
    sigmoid = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    first_axis = keras.Sequential([keras.Input((6, 2)), keras.layers.Softmax(axis=1)])
    for model in (features, sigmoid, first_axis):
        assert export_module.logits_twin(model) is None


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
