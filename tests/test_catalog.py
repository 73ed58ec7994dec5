"""registry.json: valid against its schema and in sync with the built-in plugins."""

from __future__ import annotations

import json

import jsonschema
import pytest

from hub_core.hub import catalog

from hub_core.hub import registry


@pytest.fixture(scope="module")
def schema():
    return json.loads(catalog.SCHEMA_PATH.read_text())


def test_registry_json_matches_schema(schema):
    jsonschema.validate(catalog.builtin(), schema)


def test_schema_rejects_a_file_without_hash(schema):
    data = catalog.builtin()
    weight_set = data["plugins"]["vgg16"]["variants"]["vgg16"]["weights"]["imagenet"]
    del weight_set["files"][0]["md5"]
    weight_set["files"][0].pop("sha256", None)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_registry_json_is_generated_from_the_plugins():
    generated = catalog.generate()
    assert sorted(generated["plugins"]) == sorted(
        name for name, reg in registry.registrations().items() if reg.value.startswith("hub_plugins.")
    ), "a built-in plugin failed to import, so it is missing from the generated catalog"
    assert catalog.dumps(generated) == catalog.CATALOG_PATH.read_text(), (
        "registry.json is out of date; run: python -m hub_core.hub.catalog --write"
    )


def test_catalog_lists_real_keras_applications_files():
    plugins = catalog.builtin()["plugins"]
    files = {
        (model, f["role"]): f
        for plugin in ("vgg16", "resnet", "inception_resnet_v2")
        for model, variant in plugins[plugin]["variants"].items()
        for f in variant["weights"].get("imagenet", {"files": []})["files"]
    }
    for model in ("vgg16", "resnet50", "resnet101", "resnet152", "inception_resnet_v2"):
        for role in ("top", "notop"):
            entry = files[(model, role)]
            assert entry["url"].startswith("https://storage.googleapis.com/"), entry
            assert entry.get("md5") or entry.get("sha256")
    # Hashes published in the Keras source (keras/src/applications/vgg16.py, resnet.py).
    assert files[("vgg16", "top")]["md5"] == "64373286793e3c8b2b4e3219cbf3544b"
    assert files[("resnet50", "notop")]["md5"] == "4d473c1dd8becc155b73f8504c6f6626"


def test_overlay_file_errors_are_one_sentence(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(bad))
    with pytest.raises(Exception, match=r"is not valid JSON .*; fix the file\.") as error:
        catalog.overlays()
    assert "\n" not in str(error.value)
