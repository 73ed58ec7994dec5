"""Run directories: layout, atomic writes, checkpoint manifest, best model, reopening."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hub_core as hub
from hub_core import data
from hub_core.training import runs
from hub_core import saving
from hub_core.demo import write_digits
from hub_core.errors import DataError


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    train_dir, _ = write_digits(root / "digits", per_class=12)
    (train_dir / "4" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.warns(UserWarning, match="Skipped 1 unreadable"):
        train, val = data.image_folder(train_dir, model="tiny_convnet", batch_size=16, validation_split=0.2, seed=0)
    result = hub.train("tiny_convnet", train, val, epochs=2, run_dir=root / "run", verbose=0, learning_rate=1e-2)
    return result


def test_run_directory_layout(finished_run):
    run_dir = finished_run.run_dir
    for name in ("run.json", "class_names.json", "preprocessing.json", "model.keras", "best.keras", "best.json",
                 "metrics.json", "curves.png", "skipped_files.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run_dir / "class_names.json").read_text()) == [str(i) for i in range(10)]
    skipped = json.loads((run_dir / "skipped_files.json").read_text())
    assert skipped["count"] == 1 and skipped["files"][0]["path"].endswith("4/broken.png")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 2 and metrics["final"]["loss"] == metrics["history"]["loss"][-1]
    assert json.loads((run_dir / "run.json").read_text())["plugin"] == "tiny_convnet"
    assert list((run_dir / "logs" / "train").glob("events.out.tfevents.*"))
    manifest = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())
    assert manifest["checkpoints"][-1]["epoch"] == 2
    assert not list(run_dir.rglob("*.tmp*")), "temporary files left behind"


def test_load_reopens_best_and_final_models(finished_run):
    run_dir = finished_run.run_dir
    best = hub.load(run_dir)
    assert best.class_names == tuple(str(i) for i in range(10))
    final = saving.open_saved(run_dir, which="final")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(final.predict(x, verbose=0), finished_run.model.predict(x, verbose=0), atol=1e-6)
    single = hub.load(run_dir / "model.keras")
    np.testing.assert_allclose(single.predict(x, verbose=0), final.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(DataError, match="does not exist"):
        hub.load(run_dir / "missing.keras")


def test_restart_never_overwrites_a_better_best_model(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images[:300, :, :, None].astype("float32") * 16
    y = digits.target[:300].astype("int32")
    import keras

    def build():
        inputs = keras.Input((8, 8, 1))
        h = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(inputs))
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(h))

    run_dir = tmp_path / "run"
    hub.train(build, (x[:200], y[:200]), (x[200:], y[200:]), epochs=3, learning_rate=0.05, run_dir=run_dir, verbose=0)
    best_before = json.loads((run_dir / "best.json").read_text())
    best_bytes = (run_dir / "best.keras").read_bytes()
    # the restart continues with a learning rate that ruins the model: its epochs are worse
    with pytest.warns(UserWarning, match="changed arguments: .*epochs.*learning_rate"):
        result = hub.train(build, (x[:200], y[:200]), (x[200:], y[200:]), epochs=5, learning_rate=500.0,
                           run_dir=run_dir, verbose=0)
    assert result.resumed_from == {"epoch": 3, "step": 0}
    assert len(result.history["val_loss"]) == 5
    assert min(result.history["val_loss"][3:]) > best_before["value"]
    assert json.loads((run_dir / "best.json").read_text()) == best_before
    assert (run_dir / "best.keras").read_bytes() == best_bytes


def test_checkpoint_manifest_skips_torn_files(tmp_path):
    run = runs.RunDir(tmp_path)
    for step in (1, 2, 3):
        run.save_checkpoint({"epoch": 0, "step": step, "global_step": step}, {"w": np.full(3, step)})
    entries = run.manifest()["checkpoints"]
    assert [e["step"] for e in entries] == [1, 2, 3]
    entry, arrays = run.latest_checkpoint()
    assert entry["step"] == 3 and arrays["w"].tolist() == [3, 3, 3]
    (tmp_path / "checkpoints" / entries[-1]["file"]).write_bytes(b"PK\x03\x04 torn")
    entry, arrays = run.latest_checkpoint()
    assert entry["step"] == 2 and arrays["w"].tolist() == [2, 2, 2]
    (tmp_path / "checkpoints" / entries[-2]["file"]).unlink()
    assert run.latest_checkpoint()[0]["step"] == 1
    run.save_checkpoint({"epoch": 0, "step": 4, "global_step": 4}, {"w": np.zeros(1)})
    assert len(list((tmp_path / "checkpoints").glob("ckpt-*.npz"))) <= runs.KEEP_CHECKPOINTS


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with runs.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_open_saved_rejects_builder_options_and_empty_dirs(tmp_path, finished_run):
    from hub_core.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="do not apply"):
        hub.load(finished_run.run_dir, num_classes=3)
    with pytest.raises(DataError, match="holds no model.keras"):
        hub.load(tmp_path)


def test_overwrite_starts_afresh(finished_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run.run_dir, run_dir)
    x = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    y = np.arange(16) % 10
    result = hub.train("tiny_convnet", (x, y), epochs=1, run_dir=run_dir, resume=False, overwrite=True, verbose=0,
                       num_classes=10)
    assert result.resumed_from is None and len(result.history["loss"]) == 1
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("copy.")]
    assert (aside / "best.keras").read_bytes() == (finished_run.run_dir / "best.keras").read_bytes()
    assert json.loads((run_dir / "best.json").read_text())["epoch"] == 1
    assert [e["epoch"] for e in json.loads((run_dir / "checkpoints" / "manifest.json").read_text())["checkpoints"]] == [1]


def test_each_save_holds_the_weights_and_trainable_layers_of_its_moment(tmp_path):
    import keras

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden(inputs)))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    saving.save_model(model, tmp_path / "first.keras")
    first = model.predict(x, verbose=0)
    hidden.kernel.assign(hidden.kernel * 2.0)
    hidden.trainable = False  # the next save clones again: its file records the frozen layer
    saving.save_model(model, tmp_path / "second.keras")
    for name, expected, trainable in (("first", first, True), ("second", model.predict(x, verbose=0), False)):
        reloaded = saving.load_keras(tmp_path / f"{name}.keras")
        np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=1e-6)
        assert reloaded.get_layer("hidden").trainable is trainable and not reloaded.compiled
    assert not np.allclose(first, model.predict(x, verbose=0))
