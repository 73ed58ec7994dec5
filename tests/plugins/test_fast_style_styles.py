"""The shipped fast_style styles: every one loads, verifies its sha256 and stylises a real photo.

The photo is scikit-image's Chelsea the cat; the paintings come from Debian
(``scripts/install-test-data.sh``), to check with the VGG16 loss network that a
style brings the photo's Gram-matrix style statistics toward its painting's.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import hub_core as hub
from hub_core import config
from hub_core.cli import main as cli
from hub_core.errors import ChecksumError, InvalidArgumentError, WeightsError
from hub_core.vision import imaging
from hub_plugins.fast_style import weights

PAINTINGS = {"starry_night": "starry_night.jpg", "the_scream": "scream.jpg"}


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    import skimage.data

    return imaging.load_pixels(skimage.data.chelsea(), 192)


@pytest.fixture(scope="module")
def stylised(cat) -> dict[str, np.ndarray]:
    """Each shipped style's result on the cat, through ``hub.stylize(image, style=NAME)``."""
    return {name: hub.stylize(cat, style=name, engine="keras") for name in weights.STYLES}


@pytest.fixture(scope="module")
def features():
    from hub_plugins.fast_style import perceptual

    return perceptual.vgg_features((*perceptual.GATYS_CONTENT_LAYERS, *perceptual.GATYS_STYLE_LAYERS))


def test_every_shipped_style_is_in_the_catalog_and_has_a_painting():
    variant = hub.info("fast_style_lite")["variant"]
    assert set(variant["weights"]) == set(weights.STYLES) == set(PAINTINGS)
    assert variant["default_weights"] == "starry_night"
    for name, (_, sha256, size) in weights.SHIPPED.items():
        assert f"{size} bytes, sha256 {sha256}" in variant["weights"][name]["note"]
        assert (config.data_dir() / PAINTINGS[name]).is_file(), "run scripts/install-test-data.sh"


@pytest.mark.parametrize("name", sorted(weights.STYLES))
def test_shipped_style_verifies_its_file_and_stylises_a_photo(name, cat, stylised, features):
    from hub_plugins.fast_style import perceptual

    path = weights.shipped_path(name)  # the sha256 check itself
    assert path.stat().st_size == weights.SHIPPED[name][2] <= 4 * 2**20
    with np.load(path) as arrays:
        assert {arrays[key].dtype for key in arrays.files} == {np.dtype("float16")}
    out = stylised[name]
    assert out.dtype == np.uint8 and out.shape == cat.shape
    assert np.abs(out.astype("float32") - cat).mean() > 20  # painted over, not a copy
    painting = imaging.load_pixels(config.data_dir() / PAINTINGS[name], max(cat.shape))
    loss = perceptual.PerceptualLoss(features, painting, content_layers=perceptual.GATYS_CONTENT_LAYERS,
                                     style_layers=perceptual.GATYS_STYLE_LAYERS)
    # Gatys' Gram-matrix style loss falls well below the photo's own (0.25x and 0.47x with the files shipped now)
    assert float(loss(cat[None], out[None].astype("float32"))["style"]) < 0.8 * float(loss(cat[None], cat[None])["style"])


def test_styles_differ_and_starry_night_is_the_default(cat, stylised):
    assert np.abs(stylised["starry_night"].astype("float32") - stylised["the_scream"]).mean() > 10
    np.testing.assert_array_equal(hub.stylize(cat, engine="keras"), stylised["starry_night"])
    with pytest.raises(InvalidArgumentError, match="not both"):
        hub.stylize(hub.load("fast_style_lite"), cat, style="the_scream")


def test_a_tampered_weight_file_is_refused(tmp_path, monkeypatch):
    for name in weights.STYLES:
        shutil.copy(weights.shipped_path(name), tmp_path)
    tampered = tmp_path / "the_scream.npz"
    with np.load(tampered) as archive:
        arrays = dict(archive)
    arrays["out_conv/1"] = arrays["out_conv/1"] + np.float16(1)  # a still readable file, one bias changed
    np.savez(tampered, **arrays)
    monkeypatch.setattr(weights, "DATA", tmp_path)
    with pytest.raises(ChecksumError, match="the_scream.npz has sha256"):
        hub.load("fast_style_lite", weights="the_scream")
    hub.load("fast_style_lite", weights="starry_night")  # the untouched copy still loads
    tampered.unlink()
    with pytest.raises(WeightsError, match="are missing; reinstall hub-core"):
        hub.stylize(np.zeros((8, 8, 3), "uint8"), style="the_scream")


def test_cli_stylizes_with_a_shipped_style(tmp_path, capsys, cat):
    photo = tmp_path / "cat.jpg"
    imaging.save_image(cat, photo)
    code = cli.main(["stylize", str(photo), "--style", "the_scream", "-o", str(tmp_path / "out"), "--engine", "keras"])
    out, err = capsys.readouterr()
    assert code == 0, err
    written = tmp_path / "out" / "cat_stylized.png"
    assert out.strip() == str(written)
    assert imaging.load_pixels(written).shape == cat.shape


def test_the_default_engine_is_the_fastest_that_agrees_with_keras(cat, hub_home, monkeypatch):
    """``hub.stylize``'s default path on a real photo: the engine timed fastest of those agreeing, chosen once."""
    from hub_core import exporting
    from hub_core.exporting import engines
    from hub_plugins.fast_style import style

    monkeypatch.setattr(engines, "installed", lambda name: name in ("keras", "onnxruntime"))  # one export to make
    timed = []
    monkeypatch.setattr(engines, "_seconds", lambda engine, sample: timed.append(engine.name) or
                        {"onnxruntime": 0.1, "keras": 0.2}[engine.name])
    exports = []
    export = exporting.export
    monkeypatch.setattr(exporting, "export", lambda *args, **kwargs: exports.append(kwargs["format"]) or export(*args, **kwargs))
    net = style.style_model("the_scream")
    first = hub.stylize(net, cat)
    assert sorted(timed) == sorted(["keras", "onnxruntime"] * engines.TIMED_RUNS) and exports == ["onnx"]
    assert engines.choose(net, cat[None]).name == "onnxruntime"
    smaller = hub.stylize(net, cat[:96, :128])  # another size: the same export, nothing timed again
    assert smaller.shape == (96, 128, 3) and exports == ["onnx"] and len(timed) == 2 * engines.TIMED_RUNS
    # The stated tolerance: 1/1000 of the largest Keras output (0.26 of 0..255) for a float32 engine, plus the
    # rounding to uint8.
    keras_pixels = np.asarray(net.predict_on_batch(cat[None]))[0]
    assert np.abs(first.astype("float32") - keras_pixels).max() <= engines.agreement_rtol("float32", "float32") * 255 + 0.5
