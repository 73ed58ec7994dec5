"""Discovery: lazy, failure-isolated, conflict-aware; names resolve with suggestions."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import hub_core as hub
from hub_core.hub import catalog, registry
from hub_core.errors import PluginError, UnknownNameError

BUILTIN = sorted(catalog.builtin()["plugins"])  # every built-in plugin, from registry.json


def make_distribution(root, name, entry_points, modules, version="1.0"):
    """Write an installed-looking distribution (dist-info + modules) under ``root``."""
    dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[hub_core.plugins]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module_name, source in modules.items():
        (root / f"{module_name}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def extra_distribution(tmp_path, monkeypatch):
    """Install fake distributions on a temporary ``sys.path`` entry."""

    def install(name, entry_points, modules, version="1.0"):
        root = make_distribution(tmp_path / name, name, entry_points, modules, version)
        monkeypatch.syspath_prepend(str(root))
        catalog.refresh()

    yield install
    catalog.refresh()


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()


def test_import_and_listing_do_not_import_tensorflow_or_plugins():
    out = run_python(
        "import sys, json, hub_core as hub; names = hub.list_models(); hub.info('resnet50'); hub.info('tiny_convnet');"
        "print(json.dumps([names, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'jax', 'hub_plugins', 'hub_sample_plugin'))]))"
    )
    names, heavy = json.loads(out)
    assert "resnet50" in names and "tiny_convnet" in names
    # Built-ins are listed from registry.json, the third party from its hub_catalog.json: no plugin code, no TF.
    assert heavy == []


def test_loading_one_plugin_imports_only_that_plugin():
    out = run_python(
        "import sys, hub_core as hub; hub.load('tiny_convnet', weights=None);"
        "print(sorted(m for m in sys.modules if m.startswith(('hub_plugins.', 'hub_sample_plugin', 'hub_broken'))))"
    )
    assert out == "['hub_sample_plugin', 'hub_sample_plugin.plugin']"


def test_third_party_plugin_is_discovered_listed_and_loaded():
    assert hub.list_models("tiny_conv*") == ["tiny_convnet", "tiny_convnet_wide"]
    entry = hub.info("tiny_convnet_wide")
    assert (entry["plugin"], entry["distribution"], entry["version"]) == ("tiny_convnet", "hub-sample-plugin", "0.3.1")
    assert entry["variant"]["num_params"] == 5_418
    model = hub.load("tiny_convnet_wide", weights=None, classes=3)
    assert model.output_shape == (None, 3)
    assert model.count_params() == 16 * 27 + 16 + 32 * 16 * 9 + 32 + 32 * 3 + 3


def test_plugin_name_means_its_default_variant():
    assert catalog.resolve("tiny_convnet") == ("tiny_convnet", "tiny_convnet")
    assert catalog.resolve("resnet") == ("resnet", hub.info("resnet")["default_variant"])
    assert catalog.resolve("resnet152") == ("resnet", "resnet152")


def test_list_filters_by_pattern_task_and_pretrained():
    assert set(hub.list_models("resnet*")) >= {"resnet50", "resnet101", "resnet152", "resnet20"}
    assert all(n.startswith("resnet") for n in hub.list_models("resnet*"))
    tabular = hub.list_models(task="tabular")
    assert tabular == ["wide_deep"]
    pretrained = hub.list_models(pretrained=True)
    assert "vgg16" in pretrained and "tiny_convnet" not in pretrained
    assert "tiny_convnet" in hub.list_models(pretrained=False)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("resnet5", "resnet50"), ("vgg61", "vgg16"), ("tiny_conv", "tiny_convnet"), ("inception_resnetv2", "inception_resnet_v2")],
)
def test_unknown_names_suggest_close_matches(name, suggestion):
    with pytest.raises(UnknownNameError) as error:
        hub.info(name)
    message = str(error.value)
    assert f"Unknown model '{name}'" in message and suggestion in message
    assert "\n" not in message


def test_unknown_weight_set_suggests_and_lists():
    with pytest.raises(UnknownNameError, match=r"Unknown weight set for 'vgg16' 'imagenett'\. Did you mean: imagenet\?"):
        hub.load("vgg16", weights="imagenett")


def test_missing_weights_path_is_a_clear_error(tmp_path):
    with pytest.raises(hub.HubError, match="does not exist"):
        hub.load("tiny_convnet", weights=str(tmp_path / "nothing.weights.h5"))


def test_builder_kwargs_that_do_not_exist_are_reported():
    with pytest.raises(PluginError, match="cannot build 'tiny_convnet'"):
        hub.load("tiny_convnet", weights=None, colour="blue")


def test_broken_plugins_are_isolated_and_reported():
    rows = {row["name"]: row for row in hub.plugins()}
    assert rows["broken_import"]["status"] == "broken"
    assert "missing_dependency" in rows["broken_import"]["reason"]
    assert rows["broken_import"]["distribution"] == "hub-broken-plugin"
    assert rows["not_a_plugin"]["status"] == "broken"
    assert "not a hub_core.hub.plugin.ModelPlugin subclass" in rows["not_a_plugin"]["reason"]
    assert rows["tiny_convnet"]["status"] == "ok"
    for name in BUILTIN:
        assert rows[name]["status"] == "ok", rows[name]["reason"]
    with pytest.raises(PluginError, match="Could not import plugin 'broken_import' from 'hub-broken-plugin'"):
        hub.load("broken_import")
    assert "broken_import" not in hub.list_models()  # listing still works


def test_plugin_whose_build_raises_is_reported_by_name(extra_distribution):
    extra_distribution(
        "hub-failing-build",
        {"failing_build": "failing_build_plugin:Failing"},
        {
            "failing_build_plugin": """
                from hub_core.hub.plugin import ModelPlugin, Variant

                class Failing(ModelPlugin):
                    name = "failing_build"
                    task = "image-classification"
                    description = "raises in build"
                    variants = (Variant(name="failing_build", description="x"),)
                    default_variant = "failing_build"

                    def build(self, variant, *, weights=None, **kwargs):
                        raise RuntimeError("out of cheese")
            """
        },
    )
    with pytest.raises(PluginError, match="Plugin 'failing_build' failed to build 'failing_build': RuntimeError: out of cheese"):
        hub.load("failing_build", weights=None)
    assert hub.load("tiny_convnet", weights=None).name == "tiny_convnet"


def test_keyboard_interrupt_during_plugin_import_propagates(extra_distribution):
    extra_distribution(
        "hub-interrupting", {"interrupting": "interrupting_plugin:Plugin"}, {"interrupting_plugin": "raise KeyboardInterrupt\n"}
    )
    with pytest.raises(KeyboardInterrupt):
        registry.get_plugin("interrupting")


def test_registry_overlay_adds_weight_sets(tmp_path, monkeypatch):
    overlay = {
        "plugins": {
            "tiny_convnet": {
                "variants": {
                    "tiny_convnet": {
                        "default_weights": "acme",
                        "weights": {
                            "acme": {
                                "description": "ACME's internal training run",
                                "license": "proprietary",
                                "format": "weights_h5",
                                "num_classes": 10,
                                "published": True,
                                "note": "",
                                "source": "",
                                "files": [{"url": "https://models.acme.example/tiny.weights.h5", "sha256": "a" * 64, "role": "default"}],
                            }
                        },
                    }
                }
            }
        }
    }
    path = tmp_path / "acme.json"
    path.write_text(json.dumps(overlay))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(path))
    catalog.refresh()
    try:
        variant = hub.info("tiny_convnet")["variant"]
        assert variant["default_weights"] == "acme"
        assert variant["weights"]["acme"]["files"][0]["url"].startswith("https://models.acme.example/")
        assert hub.info("tiny_convnet")["variants"]["tiny_convnet_wide"]["num_params"] == 5_418  # kept
        assert "tiny_convnet" in hub.list_models(pretrained=True)
        from hub_core.api import resolve_weights

        ref = resolve_weights("tiny_convnet", "tiny_convnet", "default")
        assert ref.weight_set.name == "acme" and ref.weight_set.file().sha256 == "a" * 64
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()
