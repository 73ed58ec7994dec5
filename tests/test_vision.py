"""hub_core.vision: preprocessing parity with keras.applications, the shared builder, weights, features, precision."""

from __future__ import annotations

import hashlib
import importlib.resources

import numpy as np
import pytest

from image_helpers import photo_batch, write_legacy_h5

keras = pytest.importorskip("keras")
from keras.applications import imagenet_utils  # noqa: E402

from hub_core import vision  # noqa: E402
from hub_core.vision import precision as precision_module  # noqa: E402
from hub_core.errors import InvalidArgumentError, WeightsError  # noqa: E402
from hub_core.hub.plugin import WeightSet, WeightsRef  # noqa: E402


def tiny_backbone(x):
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="block2_conv1")(x)
    x = keras.layers.BatchNormalization(name="block2_bn")(x)
    return keras.layers.MaxPooling2D(2, name="block2_pool")(x)


def tiny_head(x):
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(6, activation="relu", name="fc1")(x)


TINY = vision.ImageSpec(
    name="tiny",
    backbone=tiny_backbone,
    head=tiny_head,
    stages=(vision.Stage("block1_conv1", 1), vision.Stage("block2_bn", 2), vision.Stage("block2_pool", 4)),
    default_size=32,
    min_size=16,
)


def randomized(model, seed=0):
    """Give every variable (BatchNorm statistics too) distinct random values."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.uniform(0.5, 1.5, size=variable.shape).astype("float32"))
    return model


# -- preprocessing ---------------------------------------------------------
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])  # keras.applications' modes; "unit" and "none" below
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_equals_keras_applications(mode, data_format):
    photos = photo_batch(48, count=2)
    if data_format == "channels_first":
        photos = photos.transpose(0, 3, 1, 2)
    for batch in (photos, photos[0], photos.astype("uint8")):
        original = batch.copy()
        expected = imagenet_utils.preprocess_input(batch.copy(), data_format=data_format, mode=mode)
        got = vision.preprocess_input(batch, mode=mode, data_format=data_format)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(batch, original)  # the input is not written over


def test_unit_and_none_modes_scale_to_0_1_and_copy():
    photos = photo_batch(16, count=2).astype("uint8")
    np.testing.assert_array_equal(vision.preprocess_input(photos, "unit"), photos.astype("float32") / 255.0)
    same = vision.preprocess_input(photos, "none")
    assert same.dtype == np.float32 and np.array_equal(same, photos)


@pytest.mark.parametrize("mode", vision.MODES)
def test_preprocessing_layer_equals_numpy(mode):
    raw = photo_batch(40, count=2)
    layer = vision.preprocessing_layer(mode)
    got = keras.ops.convert_to_numpy(layer(raw))
    np.testing.assert_allclose(got, vision.preprocess_input(raw, mode), rtol=0, atol=1e-5)
    from_uint8 = keras.ops.convert_to_numpy(layer(raw.astype("uint8")))
    np.testing.assert_allclose(from_uint8, got, rtol=0, atol=1e-5)
    restored = type(layer).from_config(layer.get_config())
    assert restored.mode == mode


def test_preprocessing_rejects_unknown_modes():
    with pytest.raises(InvalidArgumentError, match="caffe, tf, torch"):
        vision.preprocess_input(np.zeros((1, 2, 2, 3)), mode="bgr")
    with pytest.raises(InvalidArgumentError, match="data_format"):
        vision.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="nhwc")


# -- decode_predictions -----------------------------------------------------
def test_shipped_class_index_is_the_keras_file():
    data = importlib.resources.files("hub_core.vision").joinpath("imagenet_class_index.json").read_bytes()
    # keras/src/applications/imagenet_utils.py downloads it with this md5
    assert hashlib.md5(data).hexdigest() == "c2c37ea517e94d9795004a39431a14cb"


def test_decode_predictions_matches_keras_format():
    index = vision.imagenet_class_index()
    assert len(index) == 1000 and index[0] == ("n01440764", "tench")
    preds = np.full((2, 1000), 1e-4, dtype="float32")
    preds[0, 243], preds[0, 559], preds[1, 990] = 0.7, 0.2, 0.9
    decoded = vision.decode_predictions(preds, top=3)
    assert [row[:2] for row in decoded[0][:2]] == [index[243], index[559]]
    assert decoded[0][0][2] == pytest.approx(0.7)
    assert len(decoded[1]) == 3 and decoded[1][0][:2] == index[990]
    with pytest.raises(InvalidArgumentError, match=r"\(batch, 1000\)"):
        vision.decode_predictions(np.zeros((2, 10)))


# -- argument validation ------------------------------------------------------
IMAGENET = WeightSet(name="imagenet", num_classes=1000)
BACKBONE_ONLY = WeightSet(name="edges", num_classes=None)


@pytest.mark.parametrize(
    "weights, kwargs, message",
    [
        (IMAGENET, dict(classes=17), "pass num_classes=17"),
        (IMAGENET, dict(input_shape=(64, 64, 3)), r"input_shape must be \(32, 32, 3\)"),
        (IMAGENET, dict(include_top=False, input_shape=(64, 64, 1)), "3 input channels"),
        (IMAGENET, dict(classifier_activation="relu"), "'softmax' or None"),
        (BACKBONE_ONLY, dict(), "only the convolutional backbone"),
        (None, dict(include_top=False, pooling="mean"), "pooling must be"),
        (None, dict(input_shape=(None, None, 3)), "static input_shape"),
        (None, dict(include_top=False, input_shape=(8, 8, 3)), "at least 16x16"),
        (None, dict(input_shape=(32, 32)), r"\(height, width, channels\)"),
        (None, dict(include_top=False, num_classes=3), "needs include_top=True"),
        (None, dict(classes=4, num_classes=3), "disagree"),
        (None, dict(features=True, pooling="avg"), "neither pooling nor num_classes"),
        (None, dict(out_indices=(0, 3)), "out_indices"),
        (None, dict(precision="fp16"), "precision must be"),
        (None, dict(dropout=1.0), "dropout"),
    ],
)
def test_conflicting_arguments_raise_one_sentence(weights, kwargs, message):
    ref = WeightsRef(weight_set=weights) if weights is not None else None
    with pytest.raises(InvalidArgumentError, match=message) as info:
        vision.build_model(TINY, weights=ref, **kwargs)
    assert "\n" not in str(info.value)


def test_defaults_follow_keras_applications():
    model = vision.build_model(TINY)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 1000)
    assert model.layers[-1].name == "predictions"
    no_top = vision.build_model(TINY, include_top=False, pooling="max")
    assert no_top.input_shape == (None, None, None, 3) and no_top.output_shape == (None, 8)
    tensor = keras.Input((24, 24, 3))
    on_tensor = vision.build_model(TINY, include_top=False, input_tensor=tensor, name="mine")
    assert on_tensor.inputs[0] is tensor and on_tensor.name == "mine"
    with pytest.raises(InvalidArgumentError, match="Keras tensor"):
        vision.build_model(TINY, include_top=False, input_tensor=np.zeros((1, 32, 32, 3)))


# -- weights ----------------------------------------------------------------
def test_num_classes_replaces_only_the_classifier(tmp_path):
    source = randomized(vision.build_model(TINY, classes=10))
    path = write_legacy_h5(source, tmp_path / "tiny.h5")
    model = vision.build_model(TINY, weights=WeightsRef(location=str(path)), num_classes=3, dropout=0.5)
    assert model.output_shape == (None, 3)
    for layer in source.layers:
        if layer.weights and layer.name != "predictions":
            for kept, original in zip(model.get_layer(layer.name).weights, layer.weights):
                np.testing.assert_array_equal(kept.numpy(), original.numpy())
    assert not np.allclose(model.get_layer("predictions").bias.numpy(), 1.0)  # fresh head, not the file's
    same_width = vision.build_model(TINY, weights=WeightsRef(location=str(path)), num_classes=10)
    np.testing.assert_array_equal(same_width.get_layer("predictions").kernel.numpy(),
                                  source.get_layer("predictions").kernel.numpy())  # timm: a fitting head is kept
    photos = photo_batch(32)
    trunk = keras.Model(model.inputs, model.get_layer("fc1").output)
    reference = keras.Model(source.inputs, source.get_layer("fc1").output)
    np.testing.assert_allclose(trunk.predict_on_batch(photos), reference.predict_on_batch(photos), rtol=1e-6)


def test_weights_that_do_not_fit_raise(tmp_path):
    source = randomized(vision.build_model(TINY, classes=10))
    top = write_legacy_h5(source, tmp_path / "top.h5")
    no_top = write_legacy_h5(vision.build_model(TINY, include_top=False), tmp_path / "notop.h5")
    with pytest.raises(WeightsError, match="pass num_classes="):
        vision.build_model(TINY, weights=WeightsRef(location=str(top)), classes=3)
    with pytest.raises(WeightsError, match="no values for layer.*fc1"):
        vision.build_model(TINY, weights=WeightsRef(location=str(no_top)))
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(WeightsError, match="junk.h5"):
        vision.build_model(TINY, weights=WeightsRef(location=str(tmp_path / "junk.h5")))


@pytest.mark.parametrize("kind", ["legacy_h5", "keras3", "npz"])
def test_read_weights_formats_round_trip(tmp_path, kind):
    source = randomized(vision.build_model(TINY, classes=5), seed=3)
    if kind == "legacy_h5":
        path = write_legacy_h5(source, tmp_path / "w.h5")
    elif kind == "keras3":
        path = tmp_path / "w.weights.h5"
        source.save_weights(path)
    else:
        path = tmp_path / "w.npz"
        np.savez(path, **{f"{l.name}/{i}": w.numpy() for l in source.layers
                          for i, w in enumerate(l.trainable_weights + l.non_trainable_weights)})
    arrays = vision.read_weights(path)
    bn = source.get_layer("block2_bn")
    assert [a.shape for a in arrays["block2_bn"]] == [tuple(w.shape) for w in bn.weights]
    model = vision.build_model(TINY, weights=WeightsRef(location=str(path)), classes=5)
    photos = photo_batch(32)
    np.testing.assert_allclose(model.predict_on_batch(photos), source.predict_on_batch(photos), rtol=1e-6)


def test_rename_weights_maps_file_names_to_model_names(tmp_path):
    source = randomized(vision.build_model(TINY, include_top=False))
    arrays = {f"old_{name}": values for name, values in vision.read_weights(write_legacy_h5(source, tmp_path / "w.h5")).items()}
    np.savez(tmp_path / "old.npz", **{f"{name}/{i}": v for name, values in arrays.items() for i, v in enumerate(values)})
    ref = WeightsRef(location=str(tmp_path / "old.npz"))
    with pytest.raises(WeightsError, match="no values for layer"):
        vision.build_model(TINY, weights=ref, include_top=False)
    renaming = vision.ImageSpec(**{**TINY.__dict__, "rename_weights": lambda a: {k[4:]: v for k, v in a.items()}})
    model = vision.build_model(renaming, weights=ref, include_top=False)
    np.testing.assert_array_equal(model.get_layer("block2_bn").moving_variance.numpy(),
                                  source.get_layer("block2_bn").moving_variance.numpy())


# -- features, preprocessing inside, precision ----------------------------------
def test_features_outputs_strides_and_channels(tmp_path):
    source = randomized(vision.build_model(TINY, classes=5))
    path = write_legacy_h5(source, tmp_path / "top.h5")  # a classifier file serves the feature model
    model = vision.build_model(TINY, weights=WeightsRef(location=str(path)), features=True, input_shape=(48, 40, 3))
    info = vision.feature_info(model)
    assert [(i["name"], i["stride"], i["channels"]) for i in info] == [
        ("block1_conv1", 1, 4), ("block2_bn", 2, 8), ("block2_pool", 4, 8)]
    for output, entry in zip(model.outputs, info):
        assert tuple(output.shape[1:]) == (48 // entry["stride"], 40 // entry["stride"], entry["channels"])
    photos = photo_batch(48)[:, :, :40]
    got = model.predict_on_batch(photos)
    expected = vision.build_model(TINY, include_top=False, input_shape=(48, 40, 3))
    vision.assign_weights(expected, vision.read_weights(path), source="top.h5")
    np.testing.assert_allclose(got[2], expected.predict_on_batch(photos), rtol=1e-6)
    picked = vision.build_model(TINY, out_indices=(-1, 0))
    assert [i["index"] for i in vision.feature_info(picked)] == [0, 2]
    with pytest.raises(InvalidArgumentError, match="not a feature model"):
        vision.feature_info(source)


def test_include_preprocessing_takes_raw_images(tmp_path):
    raw = photo_batch(32)
    plain = randomized(vision.build_model(TINY, classes=4))
    baked = vision.build_model(TINY, classes=4, include_preprocessing=True)
    baked.set_weights(plain.get_weights())
    expected = plain.predict_on_batch(vision.preprocess_input(raw, "caffe"))
    np.testing.assert_allclose(baked.predict_on_batch(raw), expected, rtol=1e-5, atol=1e-6)
    path = tmp_path / "baked.keras"
    baked.save(path)
    restored = keras.saving.load_model(path, safe_mode=True, custom_objects=vision.custom_objects())
    np.testing.assert_allclose(restored.predict_on_batch(raw.astype("uint8")), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["auto", "bfloat16"])
def test_precision_keeps_float32_outputs(precision):
    before = keras.config.dtype_policy().name
    model = vision.build_model(TINY, classes=4, precision=precision, include_preprocessing=True)
    features = vision.build_model(TINY, features=True, precision=precision)
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    expected = vision.resolve_precision(precision)
    assert model.get_layer("block1_conv1").compute_dtype == expected
    assert model.get_layer("preprocessing").compute_dtype == "float32"
    assert all(o.dtype == "float32" for o in [*model.outputs, *features.outputs])
    scores = model.predict_on_batch(photo_batch(32))
    assert scores.dtype == np.float32 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)


def test_auto_precision_follows_the_cpu_flags():
    gpu = precision_module._gpu_bf16()
    fast = gpu if gpu is not None else bool({"avx512_bf16", "amx_bf16"} & precision_module._cpu_flags())
    assert vision.resolve_precision("auto") == ("bfloat16" if fast else "float32")
    assert vision.resolve_precision("float32") == "float32"


def test_blocks_group_layers_in_model_order():
    model = vision.build_model(TINY, classes=3)
    assert vision.blocks(model, ("block1_", "block2_", "fc")) == [
        ["block1_conv1"], ["block2_conv1", "block2_bn"], ["fc1"], ["predictions"]]
