"""BatchNormalization folded into the convolution before it (hub_core.vision.layers)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hub_core import vision  # noqa: E402
from hub_core.vision.layers import (  # noqa: E402
    FoldableBatchNormalization,
    FoldableConv2D,
    set_batchnorm_folding,
)

SHAPE = (9, 9, 3)


def conv_bn_model(conv_class, bn_class, *, use_bias=True, scale=True, center=True, activation=None, axis=-1):
    """conv -> batch norm -> relu -> conv -> batch norm, with the given layer classes."""
    inputs = keras.Input(SHAPE)
    x = conv_class(5, 3, strides=2, use_bias=use_bias, activation=activation, name="conv_a")(inputs)
    x = bn_class(axis=axis, scale=scale, center=center, epsilon=1e-3, name="bn_a")(x)
    x = keras.layers.Activation("relu", name="relu_a")(x)
    x = conv_class(4, 1, use_bias=use_bias, name="conv_b")(x)
    x = bn_class(scale=scale, center=center, epsilon=1e-3, name="bn_b")(x)
    return keras.Model(inputs, x)


def randomize(model, seed=0):
    """Distinct random weights and BatchNorm statistics far from the identity."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        leaf = variable.path.rsplit("/", 1)[-1]
        low, high = (0.2, 3.0) if leaf in ("gamma", "moving_variance") else (-2.0, 2.0)
        variable.assign(rng.uniform(low, high, variable.shape).astype("float32"))
    return model


def pair(**options):
    """A stock Conv2D/BatchNormalization model and a foldable one with the same weights."""
    stock = randomize(conv_bn_model(keras.layers.Conv2D, keras.layers.BatchNormalization, **options))
    foldable = conv_bn_model(FoldableConv2D, FoldableBatchNormalization, **options)
    foldable.set_weights(stock.get_weights())
    return stock, foldable


INPUTS = np.random.default_rng(1).normal(size=(2, *SHAPE)).astype("float32")


@pytest.mark.parametrize(("use_bias", "scale", "center"), [(True, True, True), (False, False, True), (False, True, False)])
def test_folded_inference_matches_conv_then_batchnorm(use_bias, scale, center):
    stock, foldable = pair(use_bias=use_bias, scale=scale, center=center)
    assert set_batchnorm_folding(foldable) == 2
    expected = stock.predict_on_batch(INPUTS)
    np.testing.assert_allclose(foldable.predict_on_batch(INPUTS), expected, rtol=1e-5, atol=1e-5)
    # The convolution really carries the normalization: its own output is already normalized.
    probe = keras.Model(foldable.inputs, foldable.get_layer("conv_a").output)
    stock_probe = keras.Model(stock.inputs, stock.get_layer("bn_a").output)
    np.testing.assert_allclose(probe.predict_on_batch(INPUTS), stock_probe.predict_on_batch(INPUTS), rtol=1e-5, atol=1e-5)
    set_batchnorm_folding(foldable, False)
    np.testing.assert_array_equal(foldable.predict_on_batch(INPUTS), expected)


def test_training_mode_uses_batch_statistics_and_updates_them():
    stock, foldable = pair()
    set_batchnorm_folding(foldable)
    np.testing.assert_allclose(foldable(INPUTS, training=True), stock(INPUTS, training=True), rtol=1e-5, atol=1e-5)
    for layer in ("bn_a", "bn_b"):
        np.testing.assert_allclose(foldable.get_layer(layer).moving_mean, stock.get_layer(layer).moving_mean, rtol=1e-6)
        assert not np.allclose(stock.get_layer(layer).moving_mean, pair()[0].get_layer(layer).moving_mean)


def test_frozen_batchnorm_folds_while_training_with_the_same_gradients():
    import tensorflow as tf

    stock, foldable = pair()
    set_batchnorm_folding(foldable)
    gradients = []
    for model in (stock, foldable):
        for layer in ("bn_a", "bn_b"):
            model.get_layer(layer).trainable = False
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(INPUTS, training=True)))
        gradients.append(tape.gradient(loss, [model.get_layer("conv_a").kernel.value, model.get_layer("conv_b").bias.value]))
    assert foldable.get_layer("bn_a").folds(training=True)
    for expected, actual in zip(*gradients):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("options", [{"activation": "relu"}, {"axis": 1}])
def test_no_folding_after_a_nonlinear_or_other_axis_convolution(options):
    stock, foldable = pair(**options)
    assert set_batchnorm_folding(foldable) == 1  # only bn_b, after the plain conv_b
    assert not foldable.get_layer("bn_a").folds(training=False)
    np.testing.assert_allclose(foldable.predict_on_batch(INPUTS), stock.predict_on_batch(INPUTS), rtol=1e-5, atol=1e-5)


def test_folding_survives_save_and_reload(tmp_path):
    stock, foldable = pair()
    set_batchnorm_folding(foldable)
    foldable.save(tmp_path / "folded.keras")
    restored = keras.saving.load_model(tmp_path / "folded.keras", safe_mode=True, custom_objects=vision.custom_objects())
    assert restored.get_layer("bn_a").folds(training=False) and restored.get_layer("bn_b").folds(training=False)
    assert restored.get_layer("bn_a").get_config()["fold"] is True
    np.testing.assert_allclose(restored.predict_on_batch(INPUTS), stock.predict_on_batch(INPUTS), rtol=1e-5, atol=1e-5)


def test_keras_batchnorm_weights_and_order_are_kept():
    stock, foldable = pair()
    assert [w.path.split("/", 1)[1] for w in foldable.weights] == [w.path.split("/", 1)[1] for w in stock.weights]
    assert [type(layer).__mro__[1].__name__ for layer in foldable.layers[1:3]] == ["Conv2D", "BatchNormalization"]

