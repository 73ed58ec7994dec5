"""hub.predict(engine=...): OpenVINO and onnxruntime agree with Keras, the export is cached, auto picks and says."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hub_core as hub
from hub_core import exporting
from hub_core.cli.main import main
from hub_core.exporting import engines
from image_helpers import foolbox_photos


def tiny_classifier():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="predictions")(x), name="tiny_classifier")


@pytest.fixture
def images():
    return np.random.default_rng(5).uniform(0, 255, (5, 24, 24, 3)).astype("float32")


def scores(results):
    return np.array([[entry["score"] for entry in sorted(r["top"], key=lambda e: e["index"])] for r in results])


@pytest.mark.parametrize("engine", ["openvino", "onnxruntime"])
def test_engine_outputs_agree_with_keras(hub_home, images, engine):
    model = tiny_classifier()
    expected = model.predict(images, verbose=0)
    results = hub.predict(model, images, engine=engine, top_k=4, batch_size=2)  # batches of 2, 2 and 1
    assert {r["engine"] for r in results} == {engine}
    got = scores(results)
    # The stated tolerance (engines.agreement_rtol of the output scale); onnxruntime computes in float32.
    assert np.max(np.abs(got - expected)) <= engines.agreement_rtol("float32", "float32") * np.max(np.abs(expected))
    if engine == "onnxruntime":
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [r["index"] for r in results] == list(np.argmax(expected, axis=1))


def test_the_second_call_does_not_export_again_and_hub_cache_manages_the_exports(hub_home, images, monkeypatch,
                                                                                 capsys):
    calls = []
    export = exporting.export
    monkeypatch.setattr(exporting, "export", lambda *args, **kwargs: calls.append(kwargs["format"]) or export(*args, **kwargs))
    model = tiny_classifier()
    first = hub.predict(model, images, engine="openvino")
    assert calls == ["openvino"]
    entries = [p for p in (hub_home / "engines").iterdir() if p.is_dir()]
    assert [sorted(f.name for f in entries[0].iterdir())] == [["export.json", "model.bin", "model.xml"]]
    again = hub.predict(tiny_classifier(), images, engine="openvino")  # same architecture and weights: same key
    assert calls == ["openvino"]
    assert scores(again).tolist() == scores(first).tolist()
    changed = tiny_classifier()
    changed.layers[-1].kernel.assign(changed.layers[-1].kernel * 2.0)
    hub.predict(changed, images, engine="openvino")
    assert calls == ["openvino", "openvino"], "new weights must export again"
    check_hub_cache_manages_the_exports(hub_home, entries[0], capsys)


def check_hub_cache_manages_the_exports(hub_home, entry, capsys):
    """hub cache ls / verify / clear on the engine cache holding ``entry`` and one more export."""
    import hashlib

    capsys.readouterr()
    assert main(["cache", "ls", "--json"]) == 0
    listed = {f["name"]: f for f in json.loads(capsys.readouterr().out)["files"]}
    size = sum(f.stat().st_size for f in entry.iterdir() if f.name != "export.json")
    assert len(listed) == 2 and listed[entry.name] == {
        "name": entry.name, "kind": "engine", "path": str(entry), "size": size, "sha256": None, "url": None,
        "recorded": True, "model": "tiny_classifier", "format": "openvino"}
    assert main(["cache", "ls"]) == 0
    assert "openvino export of tiny_classifier" in capsys.readouterr().out
    assert main(["cache", "verify", entry.name, "--json"]) == 0
    (checked,) = json.loads(capsys.readouterr().out)
    assert checked["status"] == "ok" and checked["sha256"] == hashlib.sha256((entry / "model.xml").read_bytes()).hexdigest()
    weights = bytearray((entry / "model.bin").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (entry / "model.bin").write_bytes(bytes(weights))
    assert main(["cache", "verify"]) == 1
    assert "1 corrupt file(s)" in capsys.readouterr().out
    assert main(["cache", "clear", entry.name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": entry.name, "size": size}] and not entry.exists()
    (hub_home / "engines" / f".{entry.name}.killed").mkdir()  # an export killed while being written
    assert main(["cache", "clear"]) == 0
    assert [p.name for p in (hub_home / "engines").iterdir() if p.is_dir()] == []


def test_auto_takes_the_fastest_engine_that_agrees_and_remembers_it(hub_home, images, monkeypatch):
    timed = []
    speeds = {"openvino": 1.0, "onnxruntime": 2.0, "keras": 3.0}  # seconds per run, as the timing would measure them
    monkeypatch.setattr(engines, "_seconds", lambda engine, sample: timed.append(engine.name) or speeds[engine.name])
    model = tiny_classifier()
    assert hub.predict(model, images, top_k=1)[0]["engine"] == "openvino"
    assert sorted(timed) == sorted(["keras", "onnxruntime", "openvino"] * engines.TIMED_RUNS)  # all agreed: all timed
    assert hub.predict(model, images, top_k=1)[0]["engine"] == "openvino" and len(timed) == 3 * engines.TIMED_RUNS

    model.get_layer("conv2").bias.assign(np.full(8, 0.01, "float32"))  # new weights: chosen again (no export
    with monkeypatch.context() as only_keras:                           # when Keras is the only candidate)
        only_keras.setattr(engines, "installed", lambda name: name == "keras")
        assert hub.predict(model, images, top_k=1)[0]["engine"] == "keras" and len(timed) == 3 * engines.TIMED_RUNS

    wrong = engines.openvino_engine

    def disagreeing(path, **kwargs):
        engine = wrong(path, **kwargs)
        return engines.Engine("openvino", lambda batch: engine(batch) + 0.5)

    monkeypatch.setattr(engines, "openvino_engine", disagreeing)
    model.get_layer("conv2").bias.assign(np.zeros(8, "float32"))  # the first weights: their exports are cached
    results = hub.predict(model, images, top_k=4)
    assert {r["engine"] for r in results} == {"onnxruntime"}  # the fastest of those that agree
    np.testing.assert_allclose(scores(results), model.predict(images, verbose=0), atol=1e-5)


def test_frozen_weights_keep_the_remembered_choice_without_hashing_them(hub_home, images, monkeypatch):
    monkeypatch.setattr(engines, "installed", lambda name: name == "keras")
    hashed = []
    state_key = engines._state_key
    monkeypatch.setattr(engines, "_state_key", lambda model: hashed.append(model.name) or state_key(model))
    model = tiny_classifier()
    sample = np.asarray(images, "float32")
    first = engines.choose(model, sample, weights_frozen=True)
    assert len(hashed) == 1
    assert engines.choose(model, sample, weights_frozen=True) is first and len(hashed) == 1
    assert engines.choose(model, sample) is first and len(hashed) == 2  # without the promise the weights are hashed
    model.get_layer("conv2").bias.assign(np.full(8, 0.01, "float32"))
    assert engines.choose(model, sample) is not first and len(hashed) == 3


def test_without_the_engines_extra_keras_runs_and_says_so_once(hub_home, images, monkeypatch, capsys):
    monkeypatch.setattr(engines, "installed", lambda name: name == "keras")
    engines._tell_engines_missing.cache_clear()
    model = tiny_classifier()
    first = hub.predict(model, images)
    hub.predict(model, images)
    assert {r["engine"] for r in first} == {"keras"}
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == ["hub: predicting with Keras; for faster CPU inference (OpenVINO, ONNX Runtime) install the engines "
                     "extra: pip install 'hub-core[engines]'"]
    assert not (hub_home / "engines").exists()


def test_models_the_engines_cannot_run_stay_on_keras(hub_home):
    import keras

    inputs = {"a": keras.Input((3,), name="a"), "b": keras.Input((3,), name="b")}
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Concatenate()(list(inputs.values()))))
    rows = {"a": np.ones((2, 3), "float32"), "b": np.zeros((2, 3), "float32")}
    assert hub.predict(model, rows)[0]["engine"] == "keras"
    from hub_core.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="one array input and one output"):
        hub.predict(model, rows, engine="openvino")
    with pytest.raises(InvalidArgumentError, match="engine must be one of"):
        hub.predict(model, rows, engine="tensorrt")


def test_cli_predict_with_an_engine_prints_it(hub_home, tmp_path, capsys):
    hub.export(tiny_classifier(), tmp_path / "tiny.keras", format="keras")
    photos = [str(p) for p in foolbox_photos()[:2]]
    assert main(["predict", str(tmp_path / "tiny.keras"), *photos, "--engine", "onnxruntime", "--json", "--top", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["engine"] for r in printed] == ["onnxruntime", "onnxruntime"]
    assert [r["image"] for r in printed] == photos
    assert main(["predict", str(tmp_path / "tiny.keras"), photos[0], "--engine", "keras"]) == 0
    assert capsys.readouterr().err.splitlines() == ["engine: keras"]


def test_the_agreement_bound_grows_with_each_bfloat16_side():
    assert engines.agreement_rtol("float32", "float32") == 1e-3
    assert engines.agreement_rtol("bf16", "float32") == engines.agreement_rtol("float32", "bfloat16") == 2.0**-4
    assert engines.agreement_rtol("bf16", "bfloat16") == 2.0**-3
    expected = np.array([[0.9, 0.1, 0.0]])
    assert engines.agrees(expected + [[-0.05, 0.05, 0.0]], expected, engines.agreement_rtol("bf16", "float32"))
    assert not engines.agrees(expected + [[-0.05, 0.05, 0.0]], expected, engines.agreement_rtol("f32", "float32"))
    assert not engines.agrees(expected[:, :2], expected, 1.0)
