"""Float32 exports of reduced-precision models: bfloat16 goes through a float32 twin; a failed export leaves nothing."""

from __future__ import annotations

import numpy as np
import pytest

import hub_core as hub
from hub_core import exporting, testing
from image_helpers import photo_batch


def test_bfloat16_model_exports_to_tflite_as_its_float32_twin(tmp_path):
    model = hub.load("resnet20", weights=None, precision="bfloat16", include_top=False, pooling="avg")
    testing.randomize_statistics(model)
    assert exporting.computes_in_bfloat16(model)
    twin = exporting._float32_twin(model)
    assert not exporting.computes_in_bfloat16(twin)
    for original, copy in zip(model.weights, twin.weights):
        np.testing.assert_array_equal(np.asarray(original), np.asarray(copy))

    images = photo_batch(32, count=2)
    report = hub.export(model, tmp_path / "r20.tflite", format="tflite", sample=images)
    expected = model.predict(images, verbose=0)
    exported = exporting._run_tflite(tmp_path / "r20.tflite", images)
    assert report["max_abs_diff"] == pytest.approx(float(np.max(np.abs(exported - expected))), abs=1e-6)
    assert 0 < report["max_abs_diff"] <= exporting.BFLOAT16_RTOL * float(np.max(np.abs(expected)))
    twin_outputs = twin.predict(images, verbose=0)  # the twin is what TFLite runs (LiteRT's kernels round differently)
    np.testing.assert_allclose(exported, twin_outputs, rtol=1e-5, atol=1e-6 * float(np.max(np.abs(twin_outputs))))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r20.tflite"]


def test_a_tflite_export_that_cannot_run_is_removed(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, dtype="mixed_float16")(inputs)  # float16 Conv2D needs TF's Flex ops in TFLite
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(x))
    with pytest.raises(exporting.ExportError, match="could not be written or reloaded and was removed"):
        hub.export(model, tmp_path / "half.tflite", format="tflite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt, name", [("onnx", "r20.onnx"), ("openvino", "r20.xml")])
def test_bfloat16_model_exports_to_onnx_and_openvino_in_float32(tmp_path, fmt, name):
    model = hub.load("resnet20", weights=None, precision="bfloat16", include_top=False, pooling="avg")
    testing.randomize_statistics(model)
    images = photo_batch(32, count=2)
    report = hub.export(model, tmp_path / name, format=fmt, sample=images)
    expected = model.predict(images, verbose=0)
    exported = exporting._READERS[fmt](tmp_path / name, images)
    assert 0 < report["max_abs_diff"] <= exporting.BFLOAT16_RTOL * float(np.max(np.abs(expected)))
    twin = exporting._float32_twin(model)
    np.testing.assert_allclose(exported, twin.predict(images, verbose=0), rtol=1e-4, atol=1e-3)
