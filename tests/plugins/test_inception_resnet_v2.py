"""The inception_resnet_v2 plugin: keras.applications parity with published-layout weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import hub_core as hub  # noqa: E402
from hub_core.hub import registry  # noqa: E402
from hub_plugins.inception_resnet_v2.weights import rename_auto_named  # noqa: E402
from image_helpers import photo_batch  # noqa: E402
from parity_helpers import assert_parity, structure  # noqa: E402

from keras.applications import inception_resnet_v2 as keras_irv2  # noqa: E402

EXPLICIT = ("mixed_", "block35_", "block17_", "block8_", "conv_7b", "predictions", "avg_pool")


def test_notop_matches_keras_applications(hub_home, http_server):
    # keras.applications names most layers by process-wide counters: built
    # after other models here, its conv2d/batch_normalization numbers are
    # shifted, as in the published (Keras 2) files.
    size = 75
    keras.layers.Conv2D(1, 1), keras.layers.BatchNormalization()  # shift the counters for sure
    reference = keras.applications.InceptionResNetV2(weights=None, include_top=False, input_shape=(size, size, 3))
    model = assert_parity(
        reference, "inception_resnet_v2", http_server, size=size, preprocess=keras_irv2.preprocess_input,
        include_top=False, input_shape=(size, size, 3),
    )
    assert structure(model)[1:] == structure(reference)[1:]
    assert reference.layers[1].name != model.layers[1].name == "conv2d"
    explicit = [layer.name for layer in reference.layers if layer.name.startswith(EXPLICIT)]
    assert explicit == [layer.name for layer in model.layers if layer.name.startswith(EXPLICIT)]
    # mixed_5b/6a/7a; each of the 40 blocks' _mixed, _conv and _ac (not the last); conv_7b, _bn, _ac
    assert len(explicit) == 3 + 40 * 3 - 1 + 3


@pytest.mark.slow
def test_top_matches_keras_applications(hub_home, http_server):
    reference = keras.applications.InceptionResNetV2(weights=None)
    assert_parity(reference, "inception_resnet_v2", http_server, size=299, preprocess=keras_irv2.preprocess_input)


def test_fresh_process_names_are_kept():
    # The names this plugin gives are those of keras.applications in a fresh process.
    model = hub.load("inception_resnet_v2", weights=None, include_top=False, input_shape=(75, 75, 3))
    names = [layer.name for layer in model.layers if layer.weights]
    assert names[:4] == ["conv2d", "batch_normalization", "conv2d_1", "batch_normalization_1"]
    # stem 5, mixed_5b 7, block35 6 each, mixed_6a 4, block17 4 each, mixed_7a 7, block8 4 each
    assert sum(name.startswith("conv2d") for name in names) == 5 + 7 + 10 * 6 + 4 + 20 * 4 + 7 + 10 * 4
    assert rename_auto_named({name: [] for name in names}).keys() == set(names)


def test_rename_maps_keras2_and_shifted_names_by_rank():
    keras2 = {"conv2d_1": ["a"], "conv2d_2": ["b"], "conv2d_10": ["c"], "batch_normalization_1": ["d"],
              "block35_1_conv": ["e"], "predictions": ["f"]}
    assert rename_auto_named(keras2) == {"conv2d": ["a"], "conv2d_1": ["b"], "conv2d_2": ["c"],
                                         "batch_normalization": ["d"], "block35_1_conv": ["e"], "predictions": ["f"]}
    shifted = {"conv2d_7": ["a"], "conv2d": ["z"]}
    assert rename_auto_named(shifted) == {"conv2d": ["z"], "conv2d_1": ["a"]}


def test_features_blocks_and_preprocessing():
    model = hub.load("inception_resnet_v2", weights=None, features=True, input_shape=(75, 75, 3))
    assert [(f["stride"], f["channels"]) for f in model.feature_info] == [
        (2, 64), (4, 192), (8, 320), (16, 1088), (32, 1536)
    ]
    classifier = hub.load("inception_resnet_v2", weights=None, input_shape=(75, 75, 3), classes=3)
    groups = registry.get_plugin("inception_resnet_v2").blocks(classifier)
    # stem, mixed_5b, 10 block35, mixed_6a, 20 block17, mixed_7a, 10 block8, conv_7b, predictions
    assert len(groups) == 46
    assert groups[1][-1].startswith("batch_normalization") and groups[2][-1] == "block35_1_conv"
    assert groups[-2:] == [["conv_7b", "conv_7b_bn"], ["predictions"]]
    assert sorted(sum(groups, [])) == sorted(layer.name for layer in classifier.layers if layer.weights)

    images = photo_batch(75, count=1)
    plugin = registry.get_plugin("inception_resnet_v2")
    np.testing.assert_allclose(plugin.preprocess(images), keras_irv2.preprocess_input(images.copy()), atol=1e-6)
