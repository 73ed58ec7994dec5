"""hub_core.vision.caffe_layers: LRN and Caffe ceil-mode pooling against TF and plain numpy."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import caffe_reference as ref

keras = pytest.importorskip("keras")
from hub_core.vision.caffe_layers import (  # noqa: E402
    CaffeMaxPooling2D,
    GroupedConv2D,
    LocalResponseNormalization,
    caffe_pool_output_size,
)

LRN_SETTINGS = [
    dict(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75),  # AlexNet / GoogLeNet
    dict(depth_radius=5, bias=1.0, alpha=1.0, beta=0.5),  # tf.nn defaults
    dict(depth_radius=0, bias=2.0, alpha=0.1, beta=1.0),
    dict(depth_radius=9, bias=0.5, alpha=1e-3, beta=0.75),  # window wider than the channels
]


@pytest.mark.parametrize("settings", LRN_SETTINGS)
def test_lrn_matches_tf_and_numpy(settings):
    import tensorflow as tf

    x = np.random.default_rng(0).normal(scale=20.0, size=(2, 5, 4, 7)).astype("float32")
    got = np.asarray(LocalResponseNormalization(**settings)(x))
    from_tf = tf.nn.local_response_normalization(x, **settings).numpy()
    from_numpy = ref.lrn(x.astype("float64"), **settings)
    np.testing.assert_allclose(got, from_tf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, from_numpy, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, x, rtol=1e-3), "the settings must actually normalise"


def test_lrn_defaults_are_tf_defaults():
    layer = LocalResponseNormalization()
    assert (layer.depth_radius, layer.bias, layer.alpha, layer.beta) == (5, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="depth_radius"):
        LocalResponseNormalization(depth_radius=-1)


def test_lrn_bfloat16_policy_keeps_values():
    x = np.random.default_rng(1).normal(scale=50.0, size=(1, 3, 3, 16)).astype("float32")
    full = np.asarray(LocalResponseNormalization(depth_radius=2, alpha=2e-5, beta=0.75)(x))
    half = LocalResponseNormalization(depth_radius=2, alpha=2e-5, beta=0.75, dtype="mixed_bfloat16")(x)
    assert keras.backend.standardize_dtype(half.dtype) == "bfloat16"
    np.testing.assert_allclose(np.asarray(half, dtype="float32"), full, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("size", [7, 8, 9, 12, 13, 16, 27, 55, 56, 112])
@pytest.mark.parametrize(("pool_size", "strides"), [(3, 2), (2, 2), (3, 1), (5, 3)])
def test_caffe_max_pool_matches_caffe_arithmetic(size, pool_size, strides):
    x = np.random.default_rng(size).normal(size=(2, size, size + 1, 3)).astype("float32")
    layer = CaffeMaxPooling2D(pool_size, strides)
    got = np.asarray(layer(x))
    expected = ref.caffe_pool(x, pool_size, strides)
    assert got.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(got, expected)
    assert caffe_pool_output_size(size, pool_size, strides) == expected.shape[1]


def test_ceil_mode_differs_from_keras_floor_mode():
    x = np.zeros((1, 112, 112, 1), "float32")
    assert CaffeMaxPooling2D(3, 2)(x).shape[1] == 56
    assert keras.layers.MaxPooling2D(3, 2)(x).shape[1] == 55


def test_caffe_max_pool_rejects_gapped_windows():
    with pytest.raises(ValueError, match="strides <= pool_size"):
        CaffeMaxPooling2D(pool_size=2, strides=3)


@pytest.mark.parametrize(("groups", "strides", "padding"), [(2, 1, "same"), (3, 2, "valid"), (1, 1, "same")])
def test_grouped_conv_matches_keras_groups_and_numpy(groups, strides, padding):
    x = np.random.default_rng(4).normal(size=(2, 11, 10, 6)).astype("float32")
    layer = GroupedConv2D(12, 3, strides=strides, padding=padding, groups=groups)
    reference = keras.layers.Conv2D(12, 3, strides=strides, padding=padding, groups=groups)
    got = np.asarray(layer(x))
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    assert layer.kernel.shape == (3, 3, 6 // groups, 12)
    np.testing.assert_allclose(got, np.asarray(reference(x)), rtol=1e-5, atol=1e-5)
    if padding == "valid":
        kernel, bias = (w.astype("float64") for w in layer.get_weights())
        np.testing.assert_allclose(got, ref.conv2d(x.astype("float64"), kernel, bias, stride=strides, groups=groups),
                                   rtol=1e-5, atol=1e-5)


def test_layers_round_trip_through_keras_file(tmp_path):
    inputs = keras.Input((None, None, 8))
    x = GroupedConv2D(8, 3, padding="same", groups=2, name="conv")(inputs)
    x = LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75, name="norm")(x)
    outputs = CaffeMaxPooling2D(3, 2, name="pool")(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "caffe_layers.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert restored.get_layer("norm").get_config()["alpha"] == 2e-5
    assert restored.get_layer("pool").get_config()["pool_size"] == 3
    assert type(restored.get_layer("conv")) is GroupedConv2D and restored.get_layer("conv").groups == 2
    x = np.random.default_rng(2).normal(scale=30.0, size=(2, 10, 9, 8)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(restored(x)))
    assert restored(x).shape == (2, 5, 4, 8)


JAX_SCRIPT = """
import sys
import numpy as np
import keras
import caffe_reference as ref
from hub_core.vision.caffe_layers import CaffeMaxPooling2D, GroupedConv2D, LocalResponseNormalization
assert keras.backend.backend() == "jax", keras.backend.backend()
x = np.random.default_rng(3).normal(scale=40.0, size=(2, 12, 13, 6)).astype("float32")
lrn = np.asarray(LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75)(x))
np.testing.assert_allclose(lrn, ref.lrn(x.astype("float64"), 2, 1.0, 2e-5, 0.75), rtol=1e-5, atol=1e-5)
np.testing.assert_array_equal(np.asarray(CaffeMaxPooling2D(3, 2)(x)), ref.caffe_pool(x, 3, 2))
conv = GroupedConv2D(4, 3, groups=2)
got = np.asarray(conv(x))
kernel, bias = (w.astype("float64") for w in conv.get_weights())
np.testing.assert_allclose(got, ref.conv2d(x.astype("float64"), kernel, bias, groups=2), rtol=1e-4, atol=1e-4)
print("ok")
"""


def test_layers_run_on_jax():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(pathlib.Path(__file__).parent)}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
