"""hub.fine_tune / hub.train / hub.evaluate / hub.predict on small real data and tiny models."""

from __future__ import annotations

import numpy as np
import pytest

import hub_core as hub
from hub_core.hub import registry
from hub_core import data, training
from hub_core.demo import write_digits
from hub_core.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits"), per_class=20, test_fraction=0.25)


@pytest.fixture(scope="module")
def digit_arrays():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., None] * (255.0 / 16)).astype("float32")
    return x[:400], digits.target[:400].astype("int32"), x[1000:1200], digits.target[1000:1200].astype("int32")


def small_convnet(classes=10, dropout=False):
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    if dropout:
        x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def test_fine_tune_hub_model_by_name_two_phases(digit_folders, tmp_path):
    train_dir, test_dir = digit_folders
    train = data.image_folder(train_dir, model="tiny_convnet", batch_size=32, seed=0)
    result = hub.fine_tune("tiny_convnet", train, epochs=3, head_epochs=1, unfreeze=1, learning_rate=1e-2,
                           run_dir=tmp_path / "run", verbose=0, weights=None)
    assert len(result.history["loss"]) == 3
    assert result.model.output_shape == (None, 10)
    assert result.run_dir == tmp_path / "run"
    # phase 2 trains predictions and conv2 (the top block); conv1 stays frozen
    assert result.model.get_layer("predictions").trainable and result.model.get_layer("conv2").trainable
    assert not result.model.get_layer("conv1").trainable
    reopened = hub.load(tmp_path / "run")
    assert reopened.class_names == tuple(str(i) for i in range(10))
    test = data.image_folder(test_dir, model=reopened, shuffle=False, class_names=reopened.class_names)
    assert 0.0 <= hub.evaluate(reopened, test)["accuracy"] <= 1.0


def test_head_strategy_leaves_backbone_untouched(digit_arrays):
    x, y, _, _ = digit_arrays
    model = small_convnet()
    before = [w.copy() for w in model.get_layer("conv1").get_weights()]
    head_before = model.get_layer("predictions").get_weights()[0].copy()
    hub.fine_tune(model, (x, y), epochs=1, strategy="head", verbose=0)
    for a, b in zip(before, model.get_layer("conv1").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(head_before, model.get_layer("predictions").get_weights()[0])


def test_feature_cache_gives_same_metrics_as_frozen_backbone(digit_arrays, tmp_path):
    x, y, xv, yv = digit_arrays
    histories = {}
    for cache in (True, False):
        import keras

        keras.utils.set_random_seed(0)
        model = small_convnet()
        train = data.from_arrays(x, y, batch_size=32, seed=5)
        val = data.from_arrays(xv, yv, batch_size=64, shuffle=False)
        result = hub.fine_tune(model, train, val, epochs=3, strategy="head", cache_features=cache, seed=0,
                               learning_rate=1e-2, verbose=0, run_dir=tmp_path / f"run_{cache}")
        histories[cache] = result.history
    assert (tmp_path / "run_True" / "feature_cache").is_dir() and not (tmp_path / "run_False" / "feature_cache").exists()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(histories[True][key], histories[False][key], rtol=1e-4, atol=1e-5)


def test_runs_share_a_feature_cache_folder(digit_arrays, tmp_path, monkeypatch):
    """Runs of one backbone (built anew: Keras numbers its unnamed layers again) on the same data read one cache."""
    import keras

    from hub_core.training import feature_cache

    x, y, xv, yv = digit_arrays
    computed = []
    compute = feature_cache._compute
    monkeypatch.setattr(feature_cache, "_compute", lambda *args: computed.append(1) or compute(*args))
    shared = tmp_path / "features"
    histories = []
    for run_dir in (tmp_path / "first", None):  # the folder serves runs without a run directory too
        keras.utils.set_random_seed(0)
        model = small_convnet()
        train = data.from_arrays(x[:128], y[:128], batch_size=64, seed=5)
        val = data.from_arrays(xv[:64], yv[:64], batch_size=64, shuffle=False)
        result = hub.fine_tune(model, train, val, epochs=1, strategy="head", seed=0, learning_rate=1e-2, verbose=0,
                               run_dir=run_dir, feature_cache_dir=shared)
        histories.append(result.history)
        assert len(computed) == 2  # the training and validation parts, by the first run only
    assert len(list(shared.glob("*.npz"))) == 2 and not (tmp_path / "first" / feature_cache.CACHE_DIR).exists()
    np.testing.assert_allclose(histories[0]["val_loss"], histories[1]["val_loss"], rtol=1e-5)
    keras.utils.set_random_seed(1)  # the same layers with other weights: other features
    other = small_convnet()
    pipes = {"train": data.pipeline_of(train)}
    feature_cache.backbone_features(other, other.get_layer("predictions").input, pipes, shared, 0)
    assert len(computed) == 3 and len(list(shared.glob("*.npz"))) == 3


def test_feature_cache_refused_when_not_exact(digit_arrays):
    x, y, _, _ = digit_arrays
    with pytest.raises(InvalidArgumentError, match="augmented"):
        hub.fine_tune(small_convnet(), data.from_arrays(x, y, augment=True), epochs=1, strategy="head",
                      cache_features=True, verbose=0)
    with pytest.raises(InvalidArgumentError, match="stochastic"):
        hub.fine_tune(_dropout_in_backbone(), (x, y), epochs=1, strategy="head", cache_features=True, verbose=0)


def _dropout_in_backbone():
    import keras

    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(16, name="fc")(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.Dense(16, name="fc2")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, outputs)


def test_layer_decay_scales_learning_rate_per_block(digit_arrays):
    x, y, _, _ = digit_arrays
    model = small_convnet()
    hub.fine_tune(model, (x, y), epochs=1, strategy="head", verbose=0)
    conv1, conv2 = model.get_layer("conv1").get_weights()[0].copy(), model.get_layer("conv2").get_weights()[0].copy()
    # layer_decay=0: the unfrozen blocks below the head get learning rate 0, so they cannot move
    hub.fine_tune(model, (x, y), epochs=2, head_epochs=1, unfreeze=2, layer_decay=0.0, verbose=0, cache_features=False)
    np.testing.assert_array_equal(conv1, model.get_layer("conv1").get_weights()[0])
    np.testing.assert_array_equal(conv2, model.get_layer("conv2").get_weights()[0])
    hub.fine_tune(model, (x, y), epochs=2, head_epochs=1, unfreeze=2, layer_decay=0.5, verbose=0)
    assert not np.allclose(conv1, model.get_layer("conv1").get_weights()[0])


def test_train_from_scratch_learns_digits(digit_arrays):
    x, y, xv, yv = digit_arrays
    result = hub.train(small_convnet(), (x, y), (xv, yv), epochs=8, learning_rate=1e-2, schedule="cosine",
                       label_smoothing=0.1, verbose=0)
    assert result.final["val_accuracy"] > 0.7
    assert result.final["val_accuracy"] == pytest.approx(result.history["val_accuracy"][-1])


def test_evaluate_matches_sklearn(digit_arrays):
    from sklearn.metrics import confusion_matrix, log_loss, top_k_accuracy_score

    x, y, xv, yv = digit_arrays
    model = small_convnet()
    hub.train(model, (x, y), epochs=2, verbose=0)
    report = hub.evaluate(model, (xv, yv), top_k=3)
    probabilities = model.predict(xv, verbose=0)
    assert report["accuracy"] == pytest.approx(float(np.mean(probabilities.argmax(1) == yv)))
    assert report["top_k_accuracy"] == pytest.approx(top_k_accuracy_score(yv, probabilities, k=3, labels=range(10)))
    assert report["loss"] == pytest.approx(log_loss(yv, probabilities, labels=range(10)), rel=1e-4)
    assert report["confusion_matrix"] == confusion_matrix(yv, probabilities.argmax(1), labels=range(10)).tolist()
    assert report["num_examples"] == len(yv)


def test_multi_output_captcha_heads_and_all_heads_accuracy():
    """The seed's captcha net: 10 binary heads on one trunk, trained on the summed losses."""
    import keras

    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(256, 10)).astype("int32")
    # image: a 4x40 strip, column block i bright when bit i is 1 ("flipped character")
    x = np.repeat(np.repeat(bits[:, None, :], 4, axis=1), 4, axis=2).astype("float32")[..., None] * 255
    x += rng.normal(0, 20, size=x.shape).astype("float32")
    inputs = keras.Input((4, 40, 1))
    h = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(inputs))
    h = keras.layers.Dense(32, activation="relu", name="fc1")(h)
    outputs = [keras.layers.Dense(2, activation="softmax", name=f"out{i}")(h) for i in range(10)]
    model = keras.Model(inputs, outputs)
    targets = tuple(bits[:, i] for i in range(10))
    result = hub.train(model, (x, targets), epochs=15, learning_rate=1e-2, verbose=0)
    assert "loss" in result.history and len(result.history["loss"]) == 15
    report = hub.evaluate(model, (x, targets))
    predicted = np.stack([p.argmax(-1) for p in model.predict(x, verbose=0)], axis=1)
    assert report["all_outputs_accuracy"] == pytest.approx(float(np.mean(np.all(predicted == bits, axis=1))))
    assert report["all_outputs_accuracy"] > 0.9


def test_multi_label_targets_use_sigmoid_loss_and_exact_match():
    import keras

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)).astype("float32")
    labels = (x[:, :3] > 0).astype("int32")  # three independent labels
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="sigmoid")])
    loss, metrics = training.infer_loss(model, labels)
    assert isinstance(loss, keras.losses.BinaryCrossentropy)
    hub.train(model, (x, labels), epochs=30, learning_rate=5e-2, verbose=0)
    report = hub.evaluate(model, (x, labels))
    predicted = (model.predict(x, verbose=0) > 0.5).astype("int32")
    assert report["exact_match"] == pytest.approx(float(np.mean(np.all(predicted == labels, axis=1))))
    assert report["binary_accuracy"] > 0.9


def test_task_and_optimizer_hooks(digit_arrays):
    import keras

    x, y, _, _ = digit_arrays
    calls = []

    def make_optimizer(model, learning_rate):
        calls.append(learning_rate)
        return keras.optimizers.SGD(learning_rate)

    task = training.Task(loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["sparse_categorical_accuracy"],
                         monitor="sparse_categorical_accuracy", mode="max")
    result = hub.train(small_convnet(), (x, y), epochs=1, optimizer=make_optimizer, task=task, verbose=0,
                       learning_rate=0.05)
    assert calls == [0.05]
    assert "sparse_categorical_accuracy" in result.history


def test_optimizer_names_ask_the_models_plugin_then_keras(digit_folders):
    from hub_core.errors import InvalidArgumentError

    hub.training.check_optimizer("tiny_convnet", "sgd")  # a third-party plugin without the hook: Keras names
    with pytest.raises(InvalidArgumentError, match="'split' is neither an optimizer of plugin 'tiny_convnet'.*wide_deep"):
        hub.training.check_optimizer("tiny_convnet", "split")
    with pytest.raises(InvalidArgumentError, match="no installed plugin offers it"):
        hub.training.check_optimizer("tiny_convnet", "sgdd")
    hub.training.check_optimizer("wide_deep", "split")
    train = data.image_folder(digit_folders[0], model="tiny_convnet", batch_size=32)
    with pytest.raises(InvalidArgumentError, match="'split' is neither an optimizer of plugin 'tiny_convnet'"):
        hub.train("tiny_convnet", train, epochs=1, optimizer="split", verbose=0)


def test_predict_on_image_files_agrees_with_cli(digit_folders, tmp_path, capsys):
    import json

    from hub_core.cli.main import main

    train_dir, test_dir = digit_folders
    train = data.image_folder(train_dir, model="tiny_convnet", batch_size=32)
    hub.train("tiny_convnet", train, epochs=1, run_dir=tmp_path / "run", verbose=0)
    files = sorted(test_dir.rglob("*.png"))[:4]
    ours = hub.predict(tmp_path / "run", files, top_k=3, engine="keras")  # compared with Keras at 1e-5 below
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), *map(str, files), "--top", "3", "--json", "--engine", "keras"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli == json.loads(json.dumps(ours))  # one path: the CLI prints hub.predict's result
    reopened = hub.load(tmp_path / "run")
    height, width, channels = reopened.inputs[0].shape[1:]
    images = np.stack([data.read_image(str(f), (height, width), channels) for f in files]).astype("float32")
    scores = reopened.predict(images, verbose=0)
    for mine, file, row in zip(ours, files, scores):
        assert mine["image"] == str(file)
        assert mine["index"] == int(row.argmax()) and mine["label"] == reopened.class_names[row.argmax()]
        assert mine["score"] == pytest.approx(float(row.max()), rel=1e-5)
        assert [t["rank"] for t in mine["top"]] == [1, 2, 3] and mine["top"][0]["label"] == mine["label"]
        assert "wnid" not in mine  # not an ImageNet output


def test_predict_catalog_name_applies_the_plugins_preprocessing(digit_folders):
    import keras

    files = sorted(digit_folders[1].rglob("*.png"))[:2]
    keras.utils.set_random_seed(0)
    results = hub.predict("tiny_convnet", files, top_k=2, weights=None)
    assert [r["image"] for r in results] == [str(f) for f in files] and all(len(r["top"]) == 2 for r in results)
    with pytest.raises(InvalidArgumentError, match="weights= applies to catalog models"):
        hub.predict(small_convnet(), np.zeros((1, 8, 8, 1), "float32"), weights=None)
    array_results = hub.predict(small_convnet(), np.zeros((3, 8, 8, 1), "float32"))
    assert len(array_results) == 3 and "image" not in array_results[0]


def test_bad_arguments_are_one_sentence_errors(digit_arrays):
    x, y, _, _ = digit_arrays
    with pytest.raises(InvalidArgumentError, match="strategy must be one of"):
        hub.fine_tune(small_convnet(), (x, y), epochs=1, strategy="partial")
    with pytest.raises(InvalidArgumentError, match="head_epochs"):
        hub.fine_tune(small_convnet(), (x, y), epochs=1, strategy="two_phase")
    with pytest.raises(InvalidArgumentError, match="hub.train always"):
        hub.train(small_convnet(), (x, y), epochs=1, strategy="head")


@pytest.mark.parametrize("batchnorm, changes", [("frozen", False), ("train", True)])
def test_batchnorm_frozen_or_trained_while_fine_tuning(digit_arrays, batchnorm, changes):
    import keras

    x, y, _, _ = digit_arrays
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, name="block1_conv")(keras.layers.Rescaling(1 / 255.0)(inputs))
    h = keras.layers.BatchNormalization(name="block1_bn")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(h))
    before = [w.copy() for w in model.get_layer("block1_bn").get_weights()]
    hub.fine_tune(model, (x, y), epochs=2, head_epochs=1, unfreeze=1, batchnorm=batchnorm, verbose=0,
                  blocks=[["block1_conv", "block1_bn"], ["predictions"]])
    after = model.get_layer("block1_bn").get_weights()  # gamma, beta, moving mean, moving variance
    assert [not np.array_equal(a, b) for a, b in zip(before, after)] == [changes] * 4
    assert model.get_layer("block1_conv").trainable


def test_fine_tune_vision_plugin_builds_with_preprocessing_and_new_classifier(digit_folders):
    train_dir, _ = digit_folders
    train = data.image_folder(train_dir, model="resnet20", batch_size=64)
    result = hub.fine_tune("resnet20", train, epochs=2, head_epochs=1, unfreeze=2, weights=None, precision="float32",
                           verbose=0)
    model = result.model
    assert model.output_shape == (None, 10)
    assert any(type(layer).__name__ == "ImagePreprocessing" for layer in model.layers)
    blocks = registry.get_plugin("resnet").blocks(model)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    unfrozen = set(blocks[-1]) | set(blocks[-2]) | set(blocks[-3])  # classifier, final BN, the last stage
    batchnorm = {name for name in unfrozen if "BatchNormalization" in type(model.get_layer(name)).__name__}
    assert batchnorm and trainable == unfrozen - batchnorm  # BatchNorm stays frozen by default


def test_early_stopping_callback_ends_the_run(digit_arrays):
    import keras

    x, y, _, _ = digit_arrays
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)  # stops after the 2nd epoch
    result = hub.train(small_convnet(), (x, y), epochs=6, callbacks=[stop], verbose=0)
    assert len(result.history["loss"]) == 2
