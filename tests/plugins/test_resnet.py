"""The resnet plugin: keras.applications parity with published-layout weights, CIFAR ResNets."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import hub_core as hub  # noqa: E402
from hub_core.hub import registry  # noqa: E402
from hub_core import testing, vision  # noqa: E402
from hub_core.vision import layers as vision_layers
from hub_core.errors import InvalidArgumentError  # noqa: E402
from image_helpers import photo_batch  # noqa: E402
from parity_helpers import assert_parity, structure  # noqa: E402

from keras.applications import resnet as keras_resnet  # noqa: E402

CIFAR = {"resnet20": 3, "resnet32": 5, "resnet56": 9, "resnet110": 18}


def test_resnet50_notop_matches_keras_applications(hub_home, http_server):
    size = 64
    reference = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(size, size, 3))
    model = assert_parity(
        reference, "resnet50", http_server, size=size, preprocess=keras_resnet.preprocess_input,
        include_top=False, input_shape=(size, size, 3),
    )
    assert [layer.name for layer in model.layers[1:]] == [layer.name for layer in reference.layers[1:]]
    assert structure(model)[1:] == structure(reference)[1:]

    # The same file, with preprocessing inside the model: raw RGB in, same features out.
    raw = hub.load("resnet50", weights=http_server.url("resnet50_notop.h5"), include_top=False,
                   input_shape=(size, size, 3), include_preprocessing=True)
    images = photo_batch(size, count=2)
    expected = reference.predict_on_batch(keras_resnet.preprocess_input(images.copy()))
    assert np.max(np.abs(raw.predict_on_batch(images) - expected)) <= 1e-4
    assert http_server.count("resnet50_notop.h5") == 1  # the second load came from the cache


@pytest.mark.slow
def test_resnet50_top_matches_keras_applications(hub_home, http_server):
    reference = keras.applications.ResNet50(weights=None)
    assert_parity(reference, "resnet50", http_server, size=224, preprocess=keras_resnet.preprocess_input)

    # num_classes keeps the backbone and replaces only the classifier.
    model = hub.load("resnet50", weights=http_server.url("resnet50_top.h5"), num_classes=17)
    assert model.output.shape == (None, 17)
    np.testing.assert_array_equal(
        model.get_layer("conv5_block3_3_conv").get_weights()[0],
        reference.get_layer("conv5_block3_3_conv").get_weights()[0],
    )


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["resnet101", "resnet152"])
def test_deep_variants_have_the_published_parameter_counts(variant):
    testing.check_default_build("resnet", variant)


def cifar_params(n: int, classes: int, projection: bool) -> int:
    """Parameters of tflearn's CIFAR ResNet, counted by hand (BN counts 4 per channel)."""
    total = 3 * 3 * 3 * 16 + 16
    channels = 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += 4 * channels + 9 * channels * width + width + 4 * width + 9 * width * width + width
            if projection and channels != width:
                total += channels * width + width
            channels = width
    return total + 4 * 64 + 64 * classes + classes


@pytest.mark.parametrize("variant", sorted(CIFAR))
def test_cifar_variants_shapes_and_parameter_counts(variant):
    plugin = registry.get_plugin("resnet")
    model = hub.load(variant)
    n = CIFAR[variant]
    assert 6 * n + 2 == int(variant[6:])
    assert model.input.shape == (None, 32, 32, 3)
    assert model.output.shape == (None, 10)
    assert model.count_params() == cifar_params(n, 10, projection=False) == plugin.variant(variant).num_params
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) + 1 == 6 * n + 2  # conv layers plus the classifier
    assert len(model.losses) == len(convs)  # tflearn's L2 decay on every kernel


@pytest.mark.parametrize("variant", ["resnet20", "resnet56"])
def test_cifar_projection_shortcuts(variant):
    model = hub.load(variant, shortcut="projection", num_classes=7)
    assert model.count_params() == cifar_params(CIFAR[variant], 7, projection=True)
    assert model.get_layer("stage2_block1_0_conv").kernel.shape == (1, 1, 16, 32)
    assert model.get_layer("stage3_block1_0_conv").kernel.shape == (1, 1, 32, 64)
    assert not any(layer.name.endswith("_0_pad") for layer in model.layers)


def test_cifar_identity_shortcut_subsamples_and_zero_pads():
    model = hub.load("resnet20")
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("stage1_block3_add", "stage2_block1_0_pad")])
    x = np.random.default_rng(0).uniform(-100, 100, (2, 32, 32, 3)).astype("float32")
    before, shortcut = probe.predict_on_batch(x)
    expected = np.zeros((2, 16, 16, 32), "float32")
    expected[..., 8:24] = before[:, ::2, ::2, :]
    np.testing.assert_array_equal(shortcut, expected)


def test_cifar_features_and_blocks():
    model = hub.load("resnet20", features=True)
    assert [(f["stride"], f["channels"]) for f in model.feature_info] == [(1, 16), (2, 32), (4, 64)]
    outputs = model.predict_on_batch(np.zeros((1, 32, 32, 3), "float32"))
    assert [o.shape for o in outputs] == [(1, 32, 32, 16), (1, 16, 16, 32), (1, 8, 8, 64)]

    classifier = hub.load("resnet20")
    groups = registry.get_plugin("resnet").blocks(classifier)
    assert [g[0] for g in groups] == ["conv1_conv", "stage1_block1_1_bn", "stage2_block1_1_bn",
                                      "stage3_block1_1_bn", "post_bn", "predictions"]
    assert sorted(sum(groups, [])) == sorted(layer.name for layer in classifier.layers if layer.weights)


@pytest.mark.parametrize("check", ["check_keras_round_trip", "check_training_step"])
def test_cifar_variant_conforms(check):
    testing.CHECKS[check]("resnet", "resnet20")


def test_resnet_arguments_are_checked():
    with pytest.raises(InvalidArgumentError, match="CIFAR"):
        hub.load("resnet50", weights=None, shortcut="projection")
    with pytest.raises(InvalidArgumentError, match="shortcut"):
        hub.load("resnet20", shortcut="zero")


def test_preprocessing_is_keras_caffe_mode():
    images = photo_batch(32, count=2)
    plugin = registry.get_plugin("resnet")
    np.testing.assert_allclose(plugin.preprocess(images), keras_resnet.preprocess_input(images.copy()), atol=1e-5)


def test_bfloat16_resnet50_folds_every_conv_batchnorm_and_tracks_float32():
    options = dict(weights=None, include_top=False, pooling="avg", input_shape=(64, 64, 3))
    full = hub.load("resnet50", **options)
    half = hub.load("resnet50", precision="bfloat16", **options)
    testing.randomize_statistics(full)
    half.set_weights(full.get_weights())
    folded = [layer.name for layer in half.layers if isinstance(layer, vision_layers.FoldableBatchNormalization) and layer.folds(False)]
    assert len(folded) == 53  # every BatchNormalization of ResNet50
    assert not any(isinstance(layer, vision_layers.FoldableBatchNormalization) and layer.folds(False) for layer in full.layers)
    images = vision.preprocess_input(photo_batch(64, count=2), "caffe")
    a, b = full.predict_on_batch(images), half.predict_on_batch(images)
    cosine = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() >= 0.999
