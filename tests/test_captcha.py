"""The captcha generator, its fonts and CLI, and the captcha plugin's training and prediction.

The label bits are checked against an independent rendering: each character
drawn alone with Pillow, compared with the generated cell upright and
rotated by 180 degrees (the closer one is its orientation).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from hub_core.data.captcha_images import Captcha, common_characters, render_captcha, write_captchas
from hub_core.data.fonts import cjk_fonts, find_fonts
from hub_core.errors import DataError

HELD_OUT = "WenQuanYi Micro Hei Regular"


def test_common_characters_are_gb2312_level_1():
    chars = common_characters()
    assert len(chars) == 3755 and len(set(chars)) == 3755
    assert chars[0] == "啊" and chars[-1] == "座"  # the first and last of level 1
    assert all(0xB0 <= ch.encode("gb2312")[0] <= 0xD7 for ch in chars)


def test_render_is_deterministic_per_seed():
    first, again, other = (render_captcha(7, seed=seed) for seed in (3, 3, 4))
    np.testing.assert_array_equal(first.image, again.image)
    assert (first.text, first.label.tolist()) == (again.text, again.label.tolist())
    assert first.text != other.text
    assert first.image.shape == (28, 280, 3) and first.image.dtype == np.uint8
    assert 3 <= int(first.label.sum()) <= 6


def _alone(char: str, font, size: int = 25) -> np.ndarray:
    """``char`` drawn by itself in black on white with Pillow, cropped to its ink."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(font.path, size, index=font.index)
    canvas = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(canvas).text((16, 16), char, font=face, fill=0)
    ink = 255 - np.asarray(canvas, np.float32)
    rows, cols = np.nonzero(ink > 64)
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _distance(cell: np.ndarray, glyph: np.ndarray) -> float:
    """Least mean absolute difference of ``glyph`` placed anywhere in ``cell``."""
    best = np.inf
    for y in range(cell.shape[0] - glyph.shape[0] + 1):
        for x in range(cell.shape[1] - glyph.shape[1] + 1):
            window = np.zeros_like(cell)
            window[y:y + glyph.shape[0], x:x + glyph.shape[1]] = glyph
            best = min(best, float(np.abs(cell - window).mean()))
    return best


@pytest.mark.parametrize("font_name", ["WenQuanYi Zen Hei Regular", "Noto Serif CJK SC Bold"])
def test_label_bits_match_the_orientation_of_each_glyph(font_name):
    font = find_fonts(font_name)[0]
    checked = 0
    for index in range(3):
        captcha = render_captcha(index, seed=11, fonts=[font], augment=False)
        ink = 255 - captcha.image.astype(np.float32).mean(-1)
        for position, char in enumerate(captcha.text):
            cell = ink[:, position * 28:(position + 1) * 28]
            glyph = _alone(char, font)
            upright, inverted = _distance(cell, glyph), _distance(cell, glyph[::-1, ::-1])
            if abs(upright - inverted) < 1.0:
                continue  # (nearly) symmetric under 180 degrees: this check cannot tell
            assert int(inverted < upright) == captcha.label[position], (char, position, upright, inverted)
            checked += 1
    assert checked >= 25


def test_face_augment_is_deterministic_and_thickens_or_thins_strokes_without_changing_labels(monkeypatch):
    from hub_core.data import captcha_images

    font = find_fonts("Noto Sans CJK SC Regular")[0]
    plain = render_captcha(4, seed=8, fonts=[font], augment=False)
    varied, again = (render_captcha(4, seed=8, fonts=[font], augment=False, face_augment=True) for _ in range(2))
    np.testing.assert_array_equal(varied.image, again.image)
    assert (varied.text, varied.label.tolist()) == (plain.text, plain.label.tolist())  # a second random stream
    assert not np.array_equal(varied.image, plain.image)

    def cells(image):
        ink = 255 - image.astype(np.float32).mean(-1)
        return [ink[:, i * 28:(i + 1) * 28] for i in range(10)]

    for cell, reference in zip(cells(varied.image), cells(plain.image)):  # still the plain glyph's orientation
        assert np.abs(cell - reference).mean() < np.abs(cell - reference[::-1, ::-1]).mean()
    monkeypatch.setattr(captcha_images, "FACE_SCALE", (1.0, 1.0))  # the stroke width alone
    monkeypatch.setattr(captcha_images, "FACE_ASPECT", (1.0, 1.0))
    monkeypatch.setattr(captcha_images, "FACE_SHEAR", 0.0)
    ink = {}
    for name, threshold in (("thick", 0.4), ("thin", 0.62)):
        monkeypatch.setattr(captcha_images, "STROKE_THRESHOLD", (threshold, threshold))
        ink[name] = [c.sum() for c in cells(render_captcha(4, seed=8, fonts=[font], augment=False,
                                                             face_augment=True).image)]
    normal = [c.sum() for c in cells(plain.image)]
    for thick, plain_ink, thin in zip(ink["thick"], normal, ink["thin"]):
        assert thick > 1.05 * plain_ink and thin < plain_ink, (thick, plain_ink, thin)
    assert sum(ink["thin"]) < 0.95 * sum(normal)


def test_dataset_streams_the_rendered_images_in_order():
    import hub_core as hub

    dataset = hub.data.captcha(5, seed=2, batch_size=2, fonts=["Zen Hei"], length=4, inverted=(1, 3), size=(112, 28))
    batches = list(dataset.as_numpy_iterator())
    assert [len(images) for images, _ in batches] == [2, 2, 1]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    again = np.concatenate([b[0] for b in dataset.as_numpy_iterator()])
    np.testing.assert_array_equal(images, again)
    for index in range(5):
        expected = render_captcha(index, seed=2, fonts=["Zen Hei"], length=4, inverted=(1, 3), size=(112, 28))
        np.testing.assert_array_equal(images[index], expected.image.astype(np.float32))
        np.testing.assert_array_equal(labels[index], expected.label)
    assert dataset.class_names == ("position_0", "position_1", "position_2", "position_3")


def test_cli_writes_files_named_with_their_labels(tmp_path):
    from PIL import Image

    from hub_core.cli.main import main

    assert main(["data", "captcha", "--out", str(tmp_path), "--count", "3", "--seed", "5", "--font", "Zen Hei"]) == 0
    files = sorted(tmp_path.glob("*.jpeg"))
    expected = sorted(render_captcha(i, seed=5, fonts=["Zen Hei"]).file_name for i in range(3))
    assert [f.name for f in files] == expected
    for path in files:
        text, positions = path.stem.split("_")
        assert len(text) == 10 and 3 <= len(positions) <= 6
        assert Image.open(path).size == (280, 28)


def test_missing_font_is_one_sentence_naming_the_package(tmp_path, monkeypatch, capsys):
    from hub_core.cli.main import main

    monkeypatch.setenv("HUB_CORE_FONTS", str(tmp_path))  # an empty folder
    with pytest.raises(DataError) as error:
        cjk_fonts()
    message = str(error.value)
    assert "fonts-wqy-zenhei" in message and "\n" not in message
    assert message.endswith(".") and message.count(". ") == 0
    assert main(["data", "captcha", "--out", str(tmp_path / "out"), "--count", "1"]) == 1
    assert capsys.readouterr().err.strip() == f"hub: error: {message}"
    monkeypatch.delenv("HUB_CORE_FONTS")
    monkeypatch.setattr("shutil.which", lambda name: None)  # no fontconfig either
    with pytest.raises(DataError, match="fonts-wqy-zenhei"):
        cjk_fonts()


def test_fonts_folder_setting(tmp_path, monkeypatch):
    zen_hei = find_fonts("WenQuanYi Zen Hei Regular")[0]
    (tmp_path / "zenhei.ttc").symlink_to(zen_hei.path)
    (tmp_path / "notes.txt").write_text("not a font")
    monkeypatch.setenv("HUB_CORE_FONTS", str(tmp_path))
    fonts = cjk_fonts()
    assert [pathlib.Path(f.path).name for f in fonts] == ["zenhei.ttc"]
    assert isinstance(render_captcha(0, seed=0), Captcha)


def test_write_captchas_refuses_unknown_options(tmp_path):
    from hub_core.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="colour"):
        write_captchas(tmp_path, 1, seed=0, colour="red")
    assert not list(tmp_path.iterdir())


SHORT = dict(chars=common_characters()[:40], length=4, inverted=(1, 3), size=(112, 28), batch_size=32)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A short training run (4 heads) through hub.train, kept in a run directory under ``runs/``."""
    import hub_core as hub

    train = hub.data.captcha(768, seed=1, fonts=["WenQuanYi Zen Hei Regular", "Noto Sans CJK SC Bold"], **SHORT)
    held_out = hub.data.captcha(256, seed=2, fonts=[HELD_OUT], **SHORT)
    run_dir = tmp_path_factory.mktemp("runs") / "short"
    return hub.train("captcha_inverted10", train, held_out, epochs=2, learning_rate=3e-3, run_dir=run_dir, verbose=0,
                     model_kwargs={"both_ways": False})  # read once, as bench_captcha.py trains: twice as fast


@pytest.mark.slow
def test_short_training_beats_chance_on_a_held_out_font(short_run):
    import hub_core as hub

    result = short_run
    held_out = hub.data.captcha(256, seed=2, fonts=[HELD_OUT], **SHORT)
    assert result.model.output_shape == (None, 4)  # one head per position of the data
    predicted, truth = [], []
    for images, labels in held_out.as_numpy_iterator():
        predicted.append(result.model.predict_on_batch(images) > 0.5)
        truth.append(labels > 0.5)
    right = np.concatenate(predicted) == np.concatenate(truth)
    # chance: 0.5 per head (half the positions are inverted on average), 1/14 for all four
    assert right.mean() > 0.75 and right.all(axis=1).mean() > 0.3, (right.mean(), right.all(axis=1).mean())
    assert result.final["val_exact_match"] == pytest.approx(right.all(axis=1).mean(), abs=1e-6)
    assert {f"val_head_{i}_accuracy" for i in range(4)} <= set(result.final)


@pytest.mark.slow
def test_hub_predict_run_dir_decodes_through_the_plugin_run_json_names(short_run, tmp_path, capsys):
    import json
    import shutil

    import hub_core as hub
    from hub_core.cli.main import main

    files = write_captchas(tmp_path / "images", 3, seed=5, fonts=[HELD_OUT], **{k: v for k, v in SHORT.items()
                                                                               if k != "batch_size"})
    from PIL import Image

    best = hub.load(short_run.run_dir)  # what hub predict RUN_DIR runs: the best model, on the decoded files
    outputs = best.predict(np.stack([np.asarray(Image.open(f).convert("RGB"), "float32") for f in files]), verbose=0)
    assert main(["predict", str(short_run.run_dir), *map(str, files), "--engine", "keras"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == [str(f) for f in files]
    for line, row in zip(lines[1::2], outputs):
        positions = [str(i) for i in np.flatnonzero(row > 0.5)]
        assert line == "inverted: " + (", ".join(positions) or "none")

    # a run of a plugin that is no longer installed: its model still predicts, as top-k classes
    orphan = tmp_path / "orphan"
    shutil.copytree(short_run.run_dir, orphan)
    config = json.loads((orphan / "run.json").read_text())
    (orphan / "run.json").write_text(json.dumps({**config, "model": "gone_model", "plugin": "gone_plugin"}))
    results = hub.predict(orphan, [str(files[0])], top_k=2, engine="keras")
    assert [entry["index"] for entry in results[0]["top"]] == list(np.argsort(-outputs[0], kind="stable")[:2])


def test_hub_predict_prints_the_inverted_positions_of_the_shipped_weights(tmp_path, capsys):
    from hub_core.cli.main import main

    files = write_captchas(tmp_path, 8, seed=99, fonts=[HELD_OUT])
    assert main(["predict", "captcha_inverted10", *map(str, files), "--engine", "keras"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == [str(f) for f in files]
    right = 0
    for path, line in zip(files, lines[1::2]):
        truth = [int(c) for c in path.stem.split("_")[1]]  # the file name's inverted positions
        assert line.startswith("inverted: ")
        predicted = [int(p) for p in line[len("inverted: "):].split(", ") if p != "none"]
        right += sum((i in truth) == (i in predicted) for i in range(10))
    assert right >= 0.95 * 80, right  # head accuracy on a font training never saw (JPEG-compressed)


def test_both_ways_net_averages_the_row_read_upright_and_turned_with_the_same_weights(tmp_path):
    import keras

    from hub_plugins.captcha.model import build_captcha_net

    small = dict(input_shape=(16, 160, 3), filters=(4, 8), cell_features=8)  # a small net of the same layout
    keras.utils.set_random_seed(3)
    once = build_captcha_net(**small, both_ways=False)
    once.save_weights(tmp_path / "once.weights.h5")
    both = build_captcha_net(**small)  # the default: both ways
    both.load_weights(tmp_path / "once.weights.h5")
    pixels = np.random.default_rng(0).integers(0, 256, (3, 16, 160, 3)).astype("float32")
    turned = pixels[:, ::-1, ::-1]

    def logit(p):
        p = np.asarray(p, np.float64)
        return np.log(p) - np.log(1 - p)

    # turning the row makes character 9 - i character i, the other way up: its logit negated
    expected = 1 / (1 + np.exp(-0.5 * (logit(once.predict_on_batch(pixels)) - logit(once.predict_on_batch(turned))[:, ::-1])))
    np.testing.assert_allclose(both.predict_on_batch(pixels), expected, atol=1e-5)
    np.testing.assert_allclose(both.predict_on_batch(turned), 1 - both.predict_on_batch(pixels)[:, ::-1], atol=1e-5)
    assert both.count_params() == once.count_params()


def test_shipped_weights_are_checked_against_their_sha256(monkeypatch):
    import hub_core as hub
    from hub_core.errors import ChecksumError
    from hub_plugins.captcha import weights

    assert weights.generated_path().stat().st_size == weights.SIZE
    monkeypatch.setattr(weights, "SHA256", "0" * 64)
    with pytest.raises(ChecksumError, match="not 0000"):
        hub.load("captcha_inverted10")


@pytest.mark.slow
def test_serve_try_it_renders_what_the_decode_hook_gives(short_run, tmp_path):
    pytest.importorskip("httpx", reason="the serve tests need the test extra: pip install -e '.[test]'")
    import re

    from fastapi.testclient import TestClient
    from PIL import Image

    import hub_core as hub
    from hub_core.serve.app import create_app

    (image,) = write_captchas(tmp_path, 1, seed=12, fonts=[HELD_OUT], **{k: v for k, v in SHORT.items() if k != "batch_size"})
    pixels = np.asarray(Image.open(image).convert("RGB"), "float32")[None]
    scores = hub.load(short_run.run_dir).predict_on_batch(pixels)[0]  # the reference: the run's model on the file
    inverted = ", ".join(str(i) for i in np.flatnonzero(scores > 0.5)) or "none"
    client = TestClient(create_app(runs=[short_run.run_dir.parent], engine="keras"))
    upload = {"image": (image.name, image.read_bytes(), "image/jpeg")}
    page = client.post("/try", data={"model": "runs/short"}, files=upload)  # a run directory, through its run.json
    assert page.status_code == 200, page.text
    assert re.search(r'<strong id="decoded">([^<]*)</strong>', page.text).group(1) == "inverted: " + inverted
    assert f"<dt>inverted</dt><dd>{inverted}</dd>" in page.text
    widths = [float(w) for w in re.findall(r'<span style="width: ([\d.]+)%">', page.text)]
    assert widths == pytest.approx(100 * scores, abs=0.15)  # one bar per head (in %, to 0.1), not top-5 classes
    assert 'id="top5"' not in page.text

    answer = client.post("/api/predict", data={"model": "runs/short"}, files=upload).json()
    assert answer["kind"] == "decoded" and answer["label"] == "inverted: " + inverted
    assert answer["fields"]["scores"] == pytest.approx(scores.tolist(), abs=1e-3) == answer["bars"]["scores"]


def test_the_generator_module_is_not_hidden_by_the_function():
    import importlib
    import importlib.util

    import hub_core as hub

    module = importlib.import_module("hub_core.data.captcha_images")
    assert hub.data.captcha is module.captcha and callable(hub.data.captcha)
    assert importlib.util.find_spec("hub_core.data.captcha") is None  # no submodule under the function's name
    assert hub.data.captcha_images is module


def test_weights_of_another_shape_are_refused_in_one_short_sentence(short_run, tmp_path):
    import hub_core as hub
    from hub_core.errors import WeightsError

    path = tmp_path / "four_heads.weights.h5"
    hub.load(short_run.run_dir).save_weights(path)
    with pytest.raises(WeightsError) as caught:
        hub.load("captcha_inverted10", weights=str(path))
    message = str(caught.value)
    assert "do not fit captcha_inverted10" in message and "shape" in message
    assert len(message) < 800 and "\n" not in message
