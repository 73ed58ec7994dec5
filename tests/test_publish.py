"""``hub publish``: names refused, and the whole loop run -> card -> wheel -> pip install -> a plugin like any other."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import hub_core as hub
from hub_core.cli.main import main
from hub_core.errors import InvalidArgumentError, WeightsError
from hub_core.publish import package
from hub_core.publish.card import read_card
from hub_core.store import download

NAME = "digits-tiny"


@pytest.mark.parametrize("name, owner", [
    ("vgg16", "the plugin 'vgg16' of the distribution 'hub-core'"),
    ("resnet50", "a model of the plugin 'resnet' from the distribution 'hub-core'"),
    ("tiny_convnet_wide", "a model of the plugin 'tiny_convnet' from the distribution 'hub-sample-plugin'"),
    ("sample-plugin", "the installed distribution 'hub-sample-plugin'"),
])
def test_a_taken_name_is_refused_naming_its_owner(name, owner):
    with pytest.raises(InvalidArgumentError, match=f"The name '{name}' is taken by {owner}"):
        package.check_name(name)


@pytest.mark.parametrize("name", ["-digits", "digits-", "my digits", "tiny:convnet", "", "dígitos"])
def test_an_invalid_distribution_name_is_refused(name):
    with pytest.raises(InvalidArgumentError, match="is not a valid distribution name"):
        package.check_name(name)


def test_a_run_from_unlicensed_weights_needs_a_license(tiny_run, tmp_path):
    with pytest.raises(InvalidArgumentError, match="started from no licensed weights.*pass --license"):
        package.publish(tiny_run[0], "digits-unlicensed", out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_free_names_pass_and_map_to_a_package():
    package.check_name("digits-tiny.v2")
    assert package.package_name("Digits-tiny.v2") == "hub_digits_tiny_v2"


def test_the_cli_refuses_a_taken_name_in_one_line_before_reading_the_run(tmp_path, capsys):
    assert main(["publish", str(tmp_path / "no-run"), "--name", "vgg16", "--out", str(tmp_path / "dist")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'vgg16' is taken by the plugin 'vgg16'" in err
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("relative", ["../etc/passwd", "/abs", "a/../../b", ""])
def test_package_urls_stay_inside_their_package(relative):
    with pytest.raises(WeightsError, match="Refused the weights URL"):
        download.package_file(f"package://hub_sample_plugin/{relative}")
    assert download.package_file("package://hub_sample_plugin/hub_catalog.json").is_file()


# The installed wheel, used from a fresh interpreter with only PYTHONPATH pointing at it.
USE_INSTALLED = r"""
import contextlib, io, json, sys
import numpy as np
import hub_core as hub
from hub_core.cli.main import main
from hub_core.errors import ChecksumError

images, classes_dir, fine_dir, out = sys.argv[1:5]
files = json.loads(images)
report = {}
def cli(*argv):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(list(argv)) == 0
    return buffer.getvalue()
report["list"] = json.loads(cli("list", "--json"))
report["info"] = cli("info", "NAME")
report["imported_to_list"] = [m for m in sys.modules if m.startswith("PACKAGE")]
hub.testing.check_catalog_data("NAME")
model = hub.load("NAME")
report["class_names"] = list(model.class_names)
report["outputs"] = model.predict(hub.imaging.load_images(files, (32, 32), crop="center"), verbose=0).tolist()
report["predict"] = json.loads(cli("predict", "NAME", *files, "--json", "--engine", "keras"))
train, val = hub.data.image_folder(classes_dir, model="NAME", batch_size=8, validation_split=0.25, seed=0)
result = hub.fine_tune("NAME", train, val, epochs=1, strategy="head", run_dir=fine_dir, verbose=0)
report["fine_tuned"] = {"units": int(result.model.outputs[0].shape[-1]), "loss": result.final["loss"]}
weights = hub.download("NAME")
weights.write_bytes(weights.read_bytes()[:-1] + b"x")
try:
    hub.load("NAME")
except ChecksumError as error:
    report["tampered"] = str(error)
json.dump(report, open(out, "w"))
"""


@pytest.fixture(scope="module")
def published(tiny_run, tmp_path_factory):
    """A tiny run, its card, its wheel and the wheel installed into a target folder."""
    root = tmp_path_factory.mktemp("publish")
    run_dir, test_dir = root / "run", tiny_run[1]
    shutil.copytree(tiny_run[0], run_dir)
    assert main(["card", str(run_dir), "--name", NAME, "--data", str(test_dir)]) == 0
    assert main(["publish", str(run_dir), "--name", NAME, "--version", "1.2.0", "--license", "MIT",
                 "--out", str(root / "dist")]) == 0
    wheel = next((root / "dist").glob("*.whl"))
    target = root / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    return {"root": root, "run": run_dir, "wheel": wheel, "target": target, "test": test_dir}


def test_the_wheel_holds_the_plugin_its_data_and_the_card(published):
    wheel = published["wheel"]
    assert wheel.name == "hub_digits_tiny-1.2.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read("hub_digits_tiny-1.2.0.dist-info/METADATA").decode()
        entry_points = archive.read("hub_digits_tiny-1.2.0.dist-info/entry_points.txt").decode()
        catalog_data = json.loads(archive.read("hub_digits_tiny/hub_catalog.json"))
        shipped = archive.read(f"hub_digits_tiny/weights/{NAME}.keras")
    assert {"hub_digits_tiny/plugin.py", "hub_digits_tiny/class_names.json"} <= names
    assert f"{NAME} = hub_digits_tiny.plugin:Plugin" in entry_points
    assert "Requires-Dist: hub-core<0.2,>=0.1.0" in metadata or "Requires-Dist: hub-core>=0.1.0,<0.2" in metadata
    assert "Requires-Dist: hub-sample-plugin" in metadata  # the base plugin is a third party's
    assert "License: MIT" in metadata
    variant = catalog_data["plugins"][NAME]["variants"][NAME]
    front, body = read_card(variant["card"])
    assert front["model_name"] == NAME and front["license"] == "mit"  # --license overrides the (unknown) base license
    assert body == read_card((published["run"] / "README.md").read_text(encoding="utf-8"))[1]
    assert variant["card"].strip() in metadata  # the card is the distribution's long description
    assert shipped == (published["run"] / "best.keras").read_bytes()
    import hashlib

    assert variant["weights"]["trained"]["files"][0]["sha256"] == hashlib.sha256(shipped).hexdigest()


@pytest.mark.slow
def test_the_installed_wheel_is_a_verified_plugin(published, tmp_path):
    files = sorted(str(p) for p in published["test"].glob("*/*.png"))[:4]
    classes_dir = tmp_path / "three_classes"
    for label in ("0", "1", "2"):
        shutil.copytree(published["test"].parent / "train" / label, classes_dir / label)
    expected = hub.predict(published["run"], files, engine="keras")
    reference = hub.load(published["run"]).predict(hub.imaging.load_images(files, (32, 32), crop="center"), verbose=0)
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(published["target"]), os.environ.get("PYTHONPATH", "")]),
           "HUB_CORE_HOME": str(tmp_path / "home"), "HUB_CORE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = USE_INSTALLED.replace("NAME", NAME).replace("PACKAGE", package.package_name(NAME))
    subprocess.run([sys.executable, "-c", script, json.dumps(files), str(classes_dir), str(tmp_path / "fine"), str(out)],
                   check=True, env=env, cwd=tmp_path, timeout=600)
    report = json.loads(out.read_text())
    listed = {row["model"]: row for row in report["list"]}
    assert listed[NAME]["task"] == "image-classification" and listed[NAME]["weights"] == ["trained"]
    assert listed[NAME]["params"] == hub.load(published["run"]).count_params()
    assert listed[NAME]["distribution"] == "hub-digits-tiny"
    assert report["imported_to_list"] == []  # hub list and hub info read the catalog data, not the plugin
    assert f"card model: {NAME}" in report["info"] and "card base_model: tiny_convnet" in report["info"]
    assert "card datasets: test" in report["info"] and "test accuracy" in report["info"]
    assert report["class_names"] == json.loads((published["run"] / "class_names.json").read_text())
    assert np.max(np.abs(np.asarray(report["outputs"]) - reference)) <= 1e-5
    assert [r["label"] for r in report["predict"]] == [r["label"] for r in expected]
    assert report["fine_tuned"]["units"] == 3 and np.isfinite(report["fine_tuned"]["loss"])
    assert "sha256" in report["tampered"] and "reinstall" in report["tampered"]


def test_catalog_data_with_a_card_over_64_kib_leaves_that_plugin_out(published, tmp_path, monkeypatch):
    from hub_core.errors import PluginError
    from hub_core.hub import catalog

    target = tmp_path / "target"
    shutil.copytree(published["target"], target)
    data_file = target / package.package_name(NAME) / "hub_catalog.json"
    data = json.loads(data_file.read_text())
    data["plugins"][NAME]["variants"][NAME]["card"] += "x" * (64 * 1024)
    data_file.write_text(json.dumps(data))
    monkeypatch.syspath_prepend(str(target))
    catalog.refresh()
    try:
        with pytest.raises(PluginError, match="over the 65536-byte budget of a card"):
            catalog.entry(NAME)
        assert NAME not in hub.list_models() and "resnet50" in hub.list_models()
    finally:
        monkeypatch.undo()
        catalog.refresh()
    assert NAME not in hub.list_models()


def test_the_publish_extra_is_in_the_test_extra_and_the_card_needs_are_install_requirements():
    import configparser

    root = pathlib.Path(__file__).resolve().parents[1]
    parser = configparser.ConfigParser()
    parser.read(root / "setup.cfg")
    lines = lambda value: {line.strip() for line in value.splitlines() if line.strip()}  # noqa: E731
    extras = {name: lines(value) for name, value in parser["options.extras_require"].items()}
    assert "build>=1.0" in extras["publish"] and extras["publish"] <= extras["test"]
    assert {"PyYAML>=6.0", "packaging>=22.0"} <= lines(parser["options"]["install_requires"])
