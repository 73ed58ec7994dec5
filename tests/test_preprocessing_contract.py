"""Preprocessing declared on the variant and applied exactly once: third-party plugins, the kit's check, the catalog."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hub_core as hub
from hub_core.hub import catalog, registry
from test_names import run_cli
from test_registry import make_distribution

# A softmax regression on 8x8 gray digits, as a third party writes it; the fields vary per test.
DIGITS_PLUGIN = """
    from hub_core.hub.plugin import ModelPlugin, Paper, Variant


    class Digits(ModelPlugin):
        name = "{name}"
        task = "image-classification"
        description = "softmax regression on 8x8 digits"
        paper = Paper(title="t", url="https://example.org")
        default_variant = "{name}"
        capabilities = frozenset({capabilities})
        variants = (Variant(name="{name}", input_shape=(8, 8, 1), description="x"{declaration}),)

        def build(self, variant, *, weights=None, classes=10, input_shape=None, include_preprocessing=False, **kwargs):
            import keras

            inputs = x = keras.Input(input_shape or variant.input_shape)
            if {rescaling}:
                x = keras.layers.Rescaling(1 / 255.0)(x)
            x = keras.layers.Flatten()(x)
            model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", name="predictions")(x))
            if weights is not None:
                model.load_weights(weights.fetch())
            return model
    {preprocess}
"""
# What the author wrote: a Rescaling inside the model, and preprocess() scaling to 0..1 as well.
LEGACY_PREPROCESS = """
        def preprocess(self, images, variant=None):
            return images / 255.0
"""


@pytest.fixture
def digits_plugin(tmp_path, monkeypatch):
    """Install a fake distribution with a ``Digits`` plugin; returns the ``sys.path`` roots for a CLI run."""
    roots = []

    def install(name, *, rescaling="True", declaration="", capabilities="", preprocess=""):
        module = f"{name}_plugin"
        source = DIGITS_PLUGIN.format(name=name, rescaling=rescaling, declaration=declaration,
                                      capabilities="{" + capabilities + "}" if capabilities else "",
                                      preprocess=preprocess)
        root = make_distribution(tmp_path / name, f"hub-{name}", {name: f"{module}:Digits"}, {module: source})
        monkeypatch.syspath_prepend(str(root))
        roots.append(str(root))
        catalog.refresh()
        return roots

    yield install
    catalog.refresh()


def digits_0_255():
    """sklearn's 8x8 digits as (n, 8, 8, 1) pixels in 0..255, and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images * (255.0 / 16.0)).astype("float32")[..., None], digits.target


def test_hub_predict_preprocesses_a_third_party_plugin_once(digits_plugin, tmp_path):
    """Issue 12, item 5: a "3" came out as "5 (0.12)"; the hub applies the declaration (here none), not preprocess()."""
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    roots = digits_plugin("digits_scaled", preprocess=LEGACY_PREPROCESS)
    images, labels = digits_0_255()
    reference = LogisticRegression(max_iter=500).fit(images.reshape(len(images), -1) / 255.0, labels)
    plugin = registry.get_plugin("digits_scaled")
    model = plugin.build(plugin.variant())
    model.get_layer("predictions").set_weights([reference.coef_.T.astype("float32"),
                                                reference.intercept_.astype("float32")])
    weights = tmp_path / "digits.weights.h5"
    model.save_weights(weights)
    expected = reference.predict_proba(images[:64].reshape(64, -1) / 255.0)

    results = hub.predict("digits_scaled", images[:64], weights=str(weights), top_k=1, engine="keras")
    assert [r["index"] for r in results] == list(expected.argmax(-1))
    np.testing.assert_allclose([r["score"] for r in results], expected.max(-1), atol=1e-4)

    three = next(i for i in range(64) if labels[i] == 3 and expected[i].argmax() == 3)
    Image.fromarray(images[three, ..., 0].astype("uint8"), mode="L").save(tmp_path / "three.png")
    result = run_cli(["predict", "digits_scaled", str(tmp_path / "three.png"), "--weights", str(weights), "--engine", "keras", "--json"],
                     roots)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)[0]["label"] == "3"
    # The kit says what is wrong with this plugin: preprocess() is not what it declares.
    with pytest.raises(AssertionError, match="differs from the declared preprocessing 'none'"):
        hub.testing.check_preprocessing("digits_scaled")


@pytest.mark.parametrize(("fields", "passes"), [
    ({"declaration": ', preprocessing="unit"', "rescaling": "False"}, True),  # the hub puts 0..1 in front
    ({"declaration": ', preprocessing="unit"', "capabilities": '"preprocessing"', "rescaling": "include_preprocessing"},
     True),  # the plugin builds it in when asked
    ({"declaration": ', preprocessing="unit"', "capabilities": '"preprocessing"', "rescaling": "True"},
     False),  # it always builds it in: the declared 0..1 then comes twice
], ids=["unit-by-the-hub", "unit-in-the-build", "unit-always-built-in"])
def test_the_kit_checks_raw_image_prediction_against_the_declaration(digits_plugin, fields, passes):
    name = "digits_kit_" + "_".join(str(abs(hash(v)) % 1000) for v in fields.values())
    digits_plugin(name, **fields)
    if passes:
        hub.testing.check_raw_image_prediction(name)
        hub.testing.check_preprocessing(name)
    else:
        with pytest.raises(AssertionError, match="declared preprocessing 'unit'"):
            hub.testing.check_raw_image_prediction(name)


def test_a_layer_factory_is_recorded_by_its_dotted_path_and_applied_once(digits_plugin):
    digits_plugin("digits_factory", declaration=', preprocessing="test_preprocessing_contract.unit_scaling"',
                  rescaling="False")
    plugin = registry.get_plugin("digits_factory")
    assert plugin.catalog_entry()["variants"]["digits_factory"]["preprocessing"] == \
        "test_preprocessing_contract.unit_scaling"
    images, _ = digits_0_255()
    np.testing.assert_allclose(plugin.preprocess(images[:4]), images[:4] / 255.0, rtol=1e-6)
    hub.testing.check_raw_image_prediction("digits_factory")
    # a factory must take no arguments: keras.layers.Rescaling needs a scale
    digits_plugin("digits_bad_factory", declaration=', preprocessing="keras.layers.Rescaling"', rescaling="False")
    with pytest.raises(hub.HubError, match="keras.layers.Rescaling failed: .*no arguments"):
        hub.predict("digits_bad_factory", images[:1], weights=None)


def unit_scaling():
    """A layer factory: 0..255 -> 0..1."""
    import keras

    return keras.layers.Rescaling(1 / 255.0)


def test_every_catalog_variant_records_its_preprocessing():
    from hub_core.hub.spec import PREPROCESSING_MODES

    declared = {name: variant["preprocessing"] for plugin in catalog.builtin()["plugins"].values()
                for name, variant in plugin["variants"].items()}  # the schema is checked in test_catalog
    assert declared["vgg16"] == "caffe" and declared["inception_resnet_v2"] == "tf"
    assert declared["alexnet_single_tower"] == "torch" and declared["nin_cifar"] == "unit"
    assert set(declared.values()) <= set(PREPROCESSING_MODES)


def test_a_class_level_preprocessing_mode_still_declares_variants_that_declare_none():
    from hub_core.hub.plugin import Variant
    from hub_core.vision import ImageClassifierPlugin, preprocess_input

    class Older(ImageClassifierPlugin):  # written before variants declared it, as a torchvision port would be
        name = "older"
        preprocessing_mode = "torch"
        variants = (Variant(name="older_a", description="a"), Variant(name="older_b", description="b", preprocessing="tf"))
        default_variant = "older_a"

    plugin = Older()
    entry = plugin.catalog_entry()["variants"]
    assert entry["older_a"]["preprocessing"] == "torch" and entry["older_b"]["preprocessing"] == "tf"
    images = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_array_equal(plugin.preprocess(images), preprocess_input(images, "torch"))
