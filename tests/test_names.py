"""Names and discovery: clashes affect only their name, qualified model names, paths versus names, contract versions."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

import hub_core as hub
from hub_core.errors import AmbiguousNameError, DataError, PluginConflictError, PluginError, WeightsError
from hub_core.hub import catalog, registry
from test_registry import make_distribution

TINY_PLUGIN = """
    from hub_core.hub.plugin import ModelPlugin, Paper, Variant, WeightSet

    class {cls}(ModelPlugin):
        name = "{name}"
        api_version = {api_version}
        task = "image-classification"
        description = "a one-layer model of {distribution}"
        paper = Paper(title="t", url="https://example.org")
        default_variant = "{variant}"
        variants = (Variant(name="{variant}", input_shape=(4,), description="x",
                            weights=(WeightSet(name="private", license="MIT", published=False,
                                               note="ask the authors for the file"),)),)

        def build(self, variant, *, weights=None, **kwargs):
            import keras

            if weights is not None:
                weights.fetch()
            inputs = keras.Input((4,))
            return keras.Model(inputs, keras.layers.Dense({units}, name="dense")(inputs), name="{distribution}")
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Install a fake distribution with one tiny plugin on a temporary ``sys.path`` entry."""
    roots = []

    def install(distribution, name, variant, *, units=2, api_version=1):
        module = f"{distribution.replace('-', '_')}_{variant}_plugin"  # a fresh module: earlier tests imported others
        source = TINY_PLUGIN.format(cls="Tiny", name=name, variant=variant, distribution=distribution, units=units,
                                    api_version=api_version)
        root = make_distribution(tmp_path / distribution, distribution, {name: f"{module}:Tiny"}, {module: source})
        monkeypatch.syspath_prepend(str(root))
        roots.append(str(root))
        catalog.refresh()

    install.roots = roots
    yield install
    catalog.refresh()


def run_cli(args, roots, env=None):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(roots), **(env or {}))
    return subprocess.run([sys.executable, "-m", "hub_core.cli", *args], capture_output=True, text=True, timeout=120,
                          env=environment)


def test_a_plugin_name_clash_affects_that_name_only(install):
    install("acme-vision", "vgg16", "acme_vgg")
    assert "resnet20" in hub.list_models() and "vgg16" not in hub.list_models()
    assert hub.load("resnet20", weights=None).name == "resnet20"
    with pytest.raises(PluginConflictError) as error:
        hub.load("vgg16", weights=None)
    message = str(error.value)
    assert "'acme-vision'" in message and "'hub-core'" in message and "HUB_CORE_PLUGIN_PINS=vgg16=" in message
    rows = [r for r in hub.plugins() if r["name"] == "vgg16"]
    assert sorted((r["distribution"], r["status"]) for r in rows) == [("acme-vision", "conflict"), ("hub-core", "conflict")]
    assert {r["status"] for r in hub.plugins() if r["name"] == "resnet"} == {"ok"}


def test_hub_plugins_list_and_info_survive_a_clash(install):
    install("acme-vision", "vgg16", "acme_vgg")
    listing = run_cli(["plugins"], install.roots)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("conflict") == 2 and "acme-vision" in listing.stdout
    assert run_cli(["list"], install.roots).returncode == 0
    assert run_cli(["info", "resnet50"], install.roots).returncode == 0
    failed = run_cli(["info", "vgg16"], install.roots)
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1 and "HUB_CORE_PLUGIN_PINS" in failed.stderr


@pytest.mark.parametrize("pinned, expected", [("acme-vision", "acme-vision"), ("hub-core", "vgg16")])
def test_a_pin_chooses_the_distribution_that_serves_a_name(install, monkeypatch, pinned, expected):
    install("acme-vision", "vgg16", "acme_vgg")
    monkeypatch.setenv("HUB_CORE_PLUGIN_PINS", f"resnet=hub-core, vgg16={pinned}")
    catalog.refresh()
    if pinned == "acme-vision":
        assert hub.load("vgg16").name == expected
        assert hub.info("vgg16")["distribution"] == "acme-vision" and hub.info("acme_vgg")["model"] == "acme_vgg"
    else:
        model = hub.load("vgg16", weights=None, include_top=False, input_shape=(32, 32, 3))
        assert model.name == expected and hub.info("vgg16")["distribution"] == "hub-core"


def test_a_pin_to_a_distribution_that_does_not_register_the_name_is_refused(install, monkeypatch):
    install("acme-vision", "vgg16", "acme_vgg")
    monkeypatch.setenv("HUB_CORE_PLUGIN_PINS", "vgg16=nobody")
    catalog.refresh()
    with pytest.raises(PluginConflictError, match="pins 'vgg16' to 'nobody'"):
        hub.list_models()


def test_a_model_name_two_plugins_declare_never_resolves_silently(install):
    install("acme-models", "acme", "resnet50", units=3)
    with pytest.raises(AmbiguousNameError) as error:
        hub.load("resnet50", weights=None)
    assert "'acme:resnet50'" in str(error.value) and "'resnet:resnet50'" in str(error.value)
    assert hub.list_models("resnet50*") == ["acme:resnet50", "resnet:resnet50"]
    model = hub.load("acme:resnet50")
    assert model.name == "acme-models" and model.output_shape == (None, 3)
    assert hub.info("resnet:resnet50")["plugin"] == "resnet"
    assert hub.load("acme").name == "acme-models"  # a plugin name still means its default variant


def test_a_qualified_name_with_an_unknown_model_suggests(install):
    install("acme-models", "acme", "resnet50")
    with pytest.raises(Exception, match="Unknown model of plugin 'acme' 'resnet5'.*resnet50"):
        hub.load("acme:resnet5")


def test_a_registered_name_means_the_model_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny_convnet").mkdir()
    assert hub.load("tiny_convnet", weights=None).name == "tiny_convnet"
    with pytest.raises(DataError, match="holds no model.keras"):
        hub.load("./tiny_convnet")


def test_a_saved_model_loads_by_bare_name_when_no_model_has_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hub.load("tiny_convnet", weights=None).save(tmp_path / "mine.keras")
    (tmp_path / "myrun").mkdir()
    os.replace(tmp_path / "mine.keras", tmp_path / "myrun" / "model.keras")
    assert hub.load("myrun").name == "tiny_convnet"
    assert hub.load(tmp_path / "myrun").name == "tiny_convnet"


def test_an_unpublished_weight_set_gives_its_note(install):
    install("acme-models", "acme", "acme_small")
    with pytest.raises(WeightsError, match="has no downloadable file: ask the authors for the file"):
        hub.load("acme_small", weights="private")


def test_default_weights_without_a_pretrained_set_build_random_and_say_so_once(install, caplog):
    install("acme-models", "acme", "acme_small")
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        hub.load("acme_small")
        hub.load("acme_small")
        hub.load("acme_small", weights=None)
    notices = [r.getMessage() for r in caplog.records if "random weights" in r.getMessage()]
    assert notices == ["hub: acme_small has no pretrained weights, so weights='default' built it with random weights."]


def test_a_plugin_for_another_contract_version_is_reported_broken(install):
    install("acme-future", "future", "future_model", api_version=2)
    with pytest.raises(PluginError, match="contract version 2.*supports version 1"):
        registry.get_plugin("future")
    assert "future_model" not in hub.list_models()
    assert {r["status"] for r in hub.plugins() if r["name"] == "future"} == {"broken"}


def _ship_catalog_data(install, data: str):
    """Give the most recently installed fake distribution a hub_catalog.json and list it in its RECORD."""
    import pathlib

    root = pathlib.Path(install.roots[-1])
    module = next(p.stem for p in root.glob("*_plugin.py"))
    package = root / module
    package.mkdir()
    (root / f"{module}.py").rename(package / "__init__.py")
    (package / "hub_catalog.json").write_text(data)
    dist_info = next(root.glob("*.dist-info"))
    (dist_info / "RECORD").write_text(f"{module}/__init__.py,,\n{module}/hub_catalog.json,,\n")
    catalog.refresh()
    return package / "hub_catalog.json"


def test_listing_a_third_party_plugin_reads_its_catalog_data_and_runs_none_of_its_code(install):
    install("acme-models", "acme", "acme_small")
    entry = catalog.plugin_data("acme")
    entry["plugins"]["acme"]["variants"]["acme_small"]["description"] = "as shipped"
    _ship_catalog_data(install, catalog.dumps(entry))
    sys.modules.pop("acme_models_acme_small_plugin", None)
    assert hub.info("acme_small")["variant"]["description"] == "as shipped"
    assert "acme_models_acme_small_plugin" not in sys.modules  # read as data, not imported
    with pytest.raises(AssertionError, match="differs from its class"):
        hub.testing.check_catalog_data("acme")
    assert hub.load("acme_small").name == "acme-models"


def test_bad_catalog_data_leaves_out_that_plugin_only(install):
    install("acme-models", "acme", "acme_small")
    path = _ship_catalog_data(install, "{not json")
    assert "acme_small" not in hub.list_models() and "resnet50" in hub.list_models()
    with pytest.raises(PluginError, match=f"ships bad catalog data: Catalog file {path} is not valid JSON"):
        catalog.entry("acme")


def test_the_kit_checks_catalog_data_of_builtin_and_third_party_plugins():
    hub.testing.check_catalog_data("vgg16")
    hub.testing.check_catalog_data("tiny_convnet")  # the fixture package ships its hub_catalog.json
