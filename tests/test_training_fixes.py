"""The training fixes of the README issue: options, (train, validation) pairs, saved losses, sizes, tabular data."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import hub_core as hub
from hub_core import data
from hub_core.demo import write_digits
from hub_core.errors import InvalidArgumentError
from hub_core.training import runs
from hub_core import saving


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits"), per_class=6, test_fraction=0.25)


@pytest.fixture(scope="module")
def digit_arrays():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., None] * (255.0 / 16)).astype("float32")
    return x[:200], digits.target[:200].astype("int32")


def dense_classifier(outputs=10):
    import keras

    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(inputs))
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax", name="predictions")(h))


def test_a_misspelt_option_is_one_sentence_with_the_close_match(digit_arrays):
    with pytest.raises(InvalidArgumentError, match=r"^Unknown training option 'lerning_rate'\. Did you mean: learning_rate\b"):
        hub.fine_tune(dense_classifier(), digit_arrays, lerning_rate=0.1)
    with pytest.raises(InvalidArgumentError, match="Unknown training option 'epocs'"):
        hub.train(dense_classifier(), digit_arrays, epocs=1)
    with pytest.raises(InvalidArgumentError, match="batchnorm must be"):
        hub.training.FitOptions(batchnorm="on")


def test_train_keeps_its_own_defaults_and_run_json_records_the_options(digit_arrays, tmp_path):
    result = hub.train(dense_classifier(), digit_arrays, epochs=1, run_dir=tmp_path / "run", verbose=0)
    arguments = runs.read_json(tmp_path / "run" / runs.RUN_CONFIG)["arguments"]
    assert arguments["strategy"] == "full" and arguments["epochs"] == 1 and arguments["weights"] is None
    assert arguments["learning_rate"] == 1e-3 and arguments["model"].startswith("<")
    assert "callbacks" not in arguments and "train" not in arguments and len(result.history["loss"]) == 1


@pytest.mark.parametrize("form", ["datasets", "arrays"])
def test_a_train_validation_pair_goes_where_the_training_set_goes(digit_arrays, form):
    x, y = digit_arrays
    pair = data.from_arrays(x, y, validation_split=0.25, seed=0) if form == "datasets" else ((x[:150], y[:150]), (x[150:], y[150:]))
    result = hub.train(dense_classifier(), pair, epochs=1, verbose=0)
    assert "val_loss" in result.history
    result = hub.fine_tune(dense_classifier(), pair, epochs=1, strategy="head", verbose=0)
    assert "val_accuracy" in result.history
    with pytest.raises(InvalidArgumentError, match="pair and validation= is given too"):
        hub.fine_tune(dense_classifier(), pair, pair[1], epochs=1, strategy="head", verbose=0)


def test_an_image_folder_split_fine_tunes_a_named_model_tracing_each_phase_once(digit_folders, monkeypatch):
    import keras

    traces = []
    train_step = keras.Model.train_step
    monkeypatch.setattr(keras.Model, "train_step", lambda self, batch: traces.append(self.name) or train_step(self, batch))
    train_dir, _ = digit_folders
    pair = data.image_folder(train_dir, model="tiny_convnet", validation_split=0.25, batch_size=16)
    result = hub.fine_tune("tiny_convnet", pair, epochs=3, head_epochs=1, unfreeze=1, weights=None, verbose=0,
                           cache_features=False)
    assert "val_accuracy" in result.history and result.model.output_shape == (None, 10)
    assert len(traces) == 2, f"the train step was traced {len(traces)} times in two phases of 1 and 2 epochs"


def _multi_label(n=120):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, :3] > 0).astype("int32")


def _sequence_of_classes(n=120):
    """Targets of shape (n, 2) class ids for outputs (n, 2, 3): the exact-match metric of several heads."""
    import keras

    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = np.stack([(x[:, 0] > 0).astype("int32"), (x[:, 1] > 0).astype("int32") * 2], axis=1)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(6, name="logits")(inputs)
    outputs = keras.layers.Softmax(name="predictions")(keras.layers.Reshape((2, 3))(h))
    return keras.Model(inputs, outputs), x, y


@pytest.mark.parametrize("case", ["label_smoothing", "multi_label_exact_match", "heads_exact_match"])
def test_runs_with_every_loss_changing_option_save_and_reopen_compiled(digit_arrays, tmp_path, case):
    import keras

    if case == "label_smoothing":
        model, (x, y), options = dense_classifier(), digit_arrays, {"label_smoothing": 0.1}
    elif case == "multi_label_exact_match":
        x, y = _multi_label()
        model, options = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="sigmoid")]), {}
    else:
        model, x, y = _sequence_of_classes()
        options = {}
    run_dir = tmp_path / "run"
    result = hub.train(model, (x, y), (x, y), epochs=2, run_dir=run_dir, verbose=0, **options)
    assert (run_dir / runs.BEST_MODEL).exists() and result.best["epoch"] in (1, 2)
    reopened = saving.open_saved(run_dir, compile=True)
    assert reopened.loss is not None
    np.testing.assert_allclose(reopened.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)
    metrics = reopened.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(metrics["loss"])
    if case != "label_smoothing":
        assert 0.0 <= metrics["exact_match"] <= 1.0
    assert hub.load(run_dir).name == result.model.name


def test_smoothed_loss_round_trips_its_config():
    from hub_core.training import SmoothedSparseCategoricalCrossentropy

    loss = SmoothedSparseCategoricalCrossentropy(4, 0.2)
    again = type(loss).from_config(loss.get_config())
    y, p = np.array([0, 3]), np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]], "float32")
    assert float(again(y, p)) == pytest.approx(float(loss(y, p)))
    assert float(SmoothedSparseCategoricalCrossentropy(4, 0.0)(y, p)) == pytest.approx(-np.log(0.7), rel=1e-5)


@pytest.mark.slow
def test_vgg16_fine_tunes_at_a_size_its_pretrained_top_does_not_fit(digit_folders, http_server, hub_home, tmp_path, monkeypatch):
    """Pretrained weights with a top and 32x32 data: the backbone is built at 32x32 with a new classifier."""
    import keras

    from hub_core.hub import catalog
    from image_helpers import write_legacy_h5

    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    served = write_legacy_h5(reference, http_server.directory / "notop.h5")
    overlay = {"plugins": {"vgg16": {"variants": {"vgg16": {"weights": {"imagenet": {"files": [
        {"url": http_server.url("missing_top.h5"), "md5": "0" * 32, "role": "top"},
        {"url": http_server.url("notop.h5"), "md5": hashlib.md5(served.read_bytes()).hexdigest(), "role": "notop"},
    ]}}}}}}}
    (tmp_path / "overlay.json").write_text(json.dumps(overlay))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(tmp_path / "overlay.json"))
    catalog.refresh()
    try:
        train = data.image_folder(digit_folders[0], model="vgg16", image_size=(32, 32), batch_size=16)
        result = hub.fine_tune("vgg16", train, epochs=1, strategy="head", verbose=0, run_dir=tmp_path / "run")
        assert result.model.input_shape == (None, 32, 32, 3) and result.model.output_shape == (None, 10)
        conv = result.model.get_layer("block1_conv1").get_weights()[0]
        np.testing.assert_array_equal(conv, reference.get_layer("block1_conv1").get_weights()[0])
        assert http_server.count("missing_top.h5") == 0
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()


def test_train_from_scratch_trains_batchnorm(digit_folders):
    """resnet20 from scratch: frozen BatchNorm (statistics 0 and 1) normalised nothing and the loss exploded."""
    train_dir, test_dir = digit_folders
    train = data.image_folder(train_dir, model="resnet20", batch_size=16)
    validation = data.image_folder(test_dir, model="resnet20", batch_size=16, shuffle=False)
    result = hub.train("resnet20", train, validation, epochs=1, precision="float32", verbose=0)
    assert result.history["loss"][0] < 5.0  # ln(10) = 2.3 at chance; it was over 1000 with frozen BatchNorm
    batchnorm = result.model.get_layer("post_bn")
    assert batchnorm.trainable and not np.allclose(batchnorm.moving_variance.numpy(), 1.0)
    frozen = hub.train("resnet20", train, epochs=1, precision="float32", verbose=0, batchnorm="frozen")
    assert np.allclose(frozen.model.get_layer("post_bn").moving_variance.numpy(), 1.0)  # the option still works
