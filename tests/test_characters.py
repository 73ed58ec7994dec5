"""Printed Chinese characters (hub.data.characters, hub data characters) and the hanzi plugin trained on them.

Glyphs are checked against an independent rendering (Pillow drawing the
character by itself), the frequency order against jieba's own parsed
dictionary, and a short training run against chance on the held-out font.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pytest

from hub_core.data import character_images
from hub_core.data.character_images import (TEST_FONT, character_counts, characters, class_names, frequent_characters,
                                            render_character, split_fonts)
from hub_core.data.captcha_images import common_characters
from hub_core.data.fonts import find_fonts
from hub_core.errors import InvalidArgumentError

pytest.importorskip("jieba")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Six classes, 4 images per training face, 3 in the held-out face (about 2 s)."""
    return characters(tmp_path_factory.mktemp("hanzi"), classes=6, per_font=4, test_per_font=3)


def test_frequency_order_follows_jiebas_dictionary():
    import collections
    import csv
    import importlib.resources

    # jieba's dict.txt ("word count tag" lines) read with the csv module: each word's count goes to each of its characters
    counts: collections.Counter = collections.Counter()
    with (importlib.resources.files("jieba") / "dict.txt").open(encoding="utf-8", newline="") as text:
        for word, count, *_ in csv.reader(text, delimiter=" "):
            for char in word:
                counts[char] += int(count)
    chars = frequent_characters(40)
    level1 = set(common_characters())
    assert len(chars) == 40 and set(chars) <= level1
    ranked = [counts.get(char, 0) for char in chars]
    assert ranked == sorted(ranked, reverse=True)
    assert ranked[-1] >= max(counts.get(c, 0) for c in level1 - set(chars))  # nothing more frequent left out
    assert len(frequent_characters(3755)) == 3755
    with pytest.raises(InvalidArgumentError, match="1 to 3755"):
        frequent_characters(3756)


def test_missing_jieba_names_the_extra(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jieba" else find_spec(name, *a))
    character_counts.cache_clear()
    try:
        with pytest.raises(InvalidArgumentError, match=r'pip install "hub-core\[characters\]"'):
            frequent_characters(10)
    finally:
        character_counts.cache_clear()


def test_renderer_is_deterministic_per_seed():
    font = find_fonts("WenQuanYi Zen Hei Regular")[0]
    first, again, other = (render_character("国", font, seed=[1, seed]) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first, again)
    assert first.shape == (64, 64) and first.dtype == np.uint8
    assert np.abs(first.astype(int) - other).mean() > 5  # another seed, another distortion
    assert first.min() == 0 and first.max() == 255 and (first < 128).mean() < 0.5  # dark ink on white


def _ink_crop(image: np.ndarray, size: int = 48) -> np.ndarray:
    """The ink's bounding box of a dark-on-white image, resized to ``size`` squared, as floats."""
    from PIL import Image

    ink = 255 - image.astype(np.float32)
    rows, cols = np.nonzero(ink > 64)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))


def _alone(char: str, font, size: int) -> np.ndarray:
    """``char`` drawn by itself with Pillow at font size ``size``, black on a white page."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(font.path, size, index=font.index)
    page = Image.new("L", (3 * size, 3 * size), 255)
    ImageDraw.Draw(page).text((size, size), char, font=face, fill=0)
    return np.asarray(page)


@pytest.mark.parametrize("font_name", ["Noto Sans CJK SC Regular", TEST_FONT])
def test_a_rendered_glyph_matches_pillows_own_drawing(font_name):
    font = find_fonts(font_name)[0]
    for char, unlike in (("国", "中"), ("是", "人")):
        reference = _ink_crop(_alone(char, font, round(0.8 * 64)))
        plain = _ink_crop(render_character(char, font, augment=False))
        augmented = _ink_crop(render_character(char, font, seed=3))
        other = _ink_crop(render_character(unlike, font, augment=False))
        assert np.corrcoef(reference.ravel(), plain.ravel())[0, 1] > 0.95
        assert np.corrcoef(reference.ravel(), augmented.ravel())[0, 1] > 0.5  # distorted, still the same glyph
        assert np.corrcoef(reference.ravel(), other.ravel())[0, 1] < 0.5


def test_folders_hold_the_classes_and_the_held_out_font_only_in_test(rendered):
    chars = frequent_characters(6)
    assert rendered.characters == chars
    names = sorted(p.name for p in rendered.train.iterdir() if p.is_dir())
    assert names == list(class_names(chars)) == sorted(class_names(chars))  # sorted folders keep frequency order
    assert names == sorted(p.name for p in rendered.test.iterdir() if p.is_dir())
    train_prefixes = {f.name.lower().replace(" ", "_") for f in rendered.train_fonts}
    test_prefixes = {f.name.lower().replace(" ", "_") for f in rendered.test_fonts}
    assert [f.name for f in rendered.test_fonts] == [TEST_FONT] and not train_prefixes & test_prefixes
    assert {f.path for f in rendered.train_fonts}.isdisjoint(f.path for f in rendered.test_fonts)
    for folder, prefixes, count in ((rendered.train, train_prefixes, 4), (rendered.test, test_prefixes, 3)):
        for name in names:
            files = sorted((folder / name).glob("*.png"))
            assert len(files) == len(prefixes) * count
            assert {f.name.rsplit("_", 1)[0] for f in files} == prefixes
        manifest = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        assert "not handwriting" in manifest["description"] and manifest["characters"] == chars
    assert not list(rendered.train.parent.glob(".*"))  # no temporary folder left behind


def test_a_test_face_from_a_training_font_file_is_refused():
    with pytest.raises(InvalidArgumentError, match="would not be unseen"):
        split_fonts("WenQuanYi Zen Hei Mono")  # the same .ttc as the default WenQuanYi Zen Hei Regular
    train, test = split_fonts()
    assert TEST_FONT not in {f.name for f in train} and [f.name for f in test] == [TEST_FONT]


def test_a_failed_write_leaves_the_earlier_folder(tmp_path, monkeypatch):
    first = characters(tmp_path, classes=2, per_font=1, test_per_font=1)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(character_images, "render_character", broken)
    assert characters(tmp_path, classes=2, per_font=1, test_per_font=1) == first  # the same settings: kept, not redrawn
    with pytest.raises(OSError, match="disk full"):
        characters(tmp_path, classes=3, per_font=1, test_per_font=1)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert sorted(p.name for p in first.train.iterdir() if p.is_dir()) == list(class_names(frequent_characters(2)))


def test_cli_writes_both_splits(tmp_path, capsys):
    from hub_core.cli.main import main

    assert main(["data", "characters", "--out", str(tmp_path), "--classes", "2", "--per-font", "1",
                 "--test-per-font", "1", "--train-font", "WenQuanYi Micro Hei Regular"]) == 0
    assert "wrote 2 classes" in capsys.readouterr().out
    assert len(list((tmp_path / "train").rglob("*.png"))) == 2 and len(list((tmp_path / "test").rglob("*.png"))) == 2
    assert main(["data", "characters", "--out", str(tmp_path), "--classes", "1"]) == 1
    assert "classes must be at least 2" in capsys.readouterr().err


def test_folder_description_is_budgeted(tmp_path, rendered):
    from hub_core.data import folder_description
    from hub_core.data.images import DESCRIPTION_BUDGET

    assert "not handwriting" in folder_description(rendered.test)
    (tmp_path / "dataset.json").write_text(json.dumps({"description": "x" * DESCRIPTION_BUDGET}))
    assert folder_description(tmp_path) is None
    (tmp_path / "dataset.json").write_text("{not json")
    assert folder_description(tmp_path) is None


def test_short_training_beats_chance_on_the_held_out_font_and_reports_top_k(rendered, tmp_path, capsys):
    import hub_core as hub
    from hub_core.cli.main import main
    from hub_core.publish.card import write_card

    train = hub.data.image_folder(rendered.train, model="hanzi_2conv", image_size=(32, 32), batch_size=20, seed=0)
    result = hub.train("hanzi_2conv", train, epochs=2, learning_rate=3e-3, run_dir=tmp_path / "run", seed=0, verbose=0)
    test = hub.data.image_folder(rendered.test, model=result.model, batch_size=32, shuffle=False,
                                 class_names=train.class_names)
    evaluation = hub.evaluate(result.model, test, top_k=3)
    assert evaluation["num_examples"] == 18 and evaluation["k"] == 3
    assert evaluation["accuracy"] >= 0.5  # chance is 1/6 on a font training never saw
    assert evaluation["top_k_accuracy"] >= evaluation["accuracy"]
    with pytest.raises(InvalidArgumentError, match="top_k must be at least 1"):
        hub.evaluate(result.model, test, top_k=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # matplotlib's "Glyph missing": the class names are CJK
        card = write_card(tmp_path / "run", data=rendered.test, top_k=3).read_text(encoding="utf-8")
    assert (tmp_path / "run" / "confusion_matrix.png").is_file()
    assert "top-3 accuracy" in card and "32x32 grayscale images" in card
    limitations = card.split("## Intended use and limitations")[1]
    assert "Printed Chinese characters" in limitations and "not handwriting" in limitations
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(rendered.test), "--top-k", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["k"] == 3 and printed["top_k_accuracy"] == pytest.approx(evaluation["top_k_accuracy"])
    assert pathlib.Path(tmp_path / "run" / "evaluation.json").is_file()
