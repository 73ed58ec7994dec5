"""Printed Chinese characters, an honest stand-in for CASIA-HWDB: one image folder per class, one unseen font.

CASIA-HWDB (handwriting) cannot be downloaded here, so :func:`characters`
renders the most frequent GB2312 level-1 characters from the installed CJK
fonts (:mod:`hub_core.data.fonts`) instead. These are **printed characters,
not handwriting**: the augmentation (scale, shift, rotation, elastic
distortion, stroke width through blur and threshold) makes them vary, but no
hand wrote them.

The frequency order is jieba's dictionary (``jieba/dict.txt``, word counts from
its corpus): each character's count is the sum of the counts of the words it
appears in; characters jieba never counts keep GB2312 order at the end.
:func:`frequent_characters` gives it; it needs the ``characters`` extra.

The folder has the notes' layout, one sub-folder per class::

    OUT/train/00000_一/<font>_0000.png ...   the training fonts
    OUT/test/00000_一/<font>_0000.png ...    the held-out font, never in train/
    OUT/train/dataset.json, OUT/test/dataset.json   what was rendered, and how

Class ``i`` is the ``i``-th most frequent character, so the sorted folder
names (:func:`hub_core.data.image_folder`'s labels) are in frequency order.
By default training uses the sans-serif faces WenQuanYi Zen Hei, WenQuanYi
Micro Hei and Noto Sans CJK SC (Regular and Bold), and the test split the
serif Noto Serif CJK SC Regular: a style that training never sees. A
training face from the same font file as a test face is refused (a ``.ttc``
collection's faces share most glyphs). Image ``i`` of a character and face
is always the same image for a seed. This module imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import pathlib
import zlib
from typing import Any, Sequence

from hub_core.data.captcha_images import common_characters
from hub_core.data.fonts import Font, find_fonts
from hub_core.data.images import DESCRIPTION_FILE
from hub_core.errors import DataError, InvalidArgumentError

SIZE = 64
TRAIN_FONTS = ("WenQuanYi Zen Hei Regular", "WenQuanYi Micro Hei Regular", "Noto Sans CJK SC Regular",
               "Noto Sans CJK SC Bold")
TEST_FONT = "Noto Serif CJK SC Regular"
DESCRIPTION = ("Printed Chinese characters rendered from fonts (not handwriting): a stand-in for CASIA-HWDB, "
               "{classes} most frequent GB2312 level-1 characters, {faces} ({split}).")
# Augmentation ranges, as fractions of the image size where they are lengths.
GLYPH_SCALE = (0.68, 0.92)  # font size; 0.8 without augmentation
SHIFT = 0.06
ROTATION = 12.0  # degrees either way
ELASTIC_SIGMA = 0.12  # smoothness of the displacement field
ELASTIC_AMPLITUDE = 0.035  # its RMS displacement, at most
BLUR = (0.5, 1.2)  # Gaussian blur sigma in pixels at 64x64, before the threshold
THRESHOLD = (0.2, 0.55)  # of the blurred ink: under 0.5 thickens strokes, over it thins them (thin serifs survive)
AUGMENTATION = {"glyph_scale": list(GLYPH_SCALE), "shift": SHIFT, "rotation": ROTATION, "elastic_sigma": ELASTIC_SIGMA,
                "elastic_amplitude": ELASTIC_AMPLITUDE, "blur": list(BLUR), "threshold": list(THRESHOLD)}


@functools.lru_cache(maxsize=1)
def character_counts() -> dict[str, int]:
    """Each character's count in jieba's dictionary: the summed counts of the words it appears in.

    Raises:
        InvalidArgumentError: Without jieba (the ``characters`` extra).
    """
    import importlib.resources
    import importlib.util

    if importlib.util.find_spec("jieba") is None:
        raise InvalidArgumentError('The character frequency order comes from jieba\'s dictionary; install it with: '
                                     'pip install "hub-core[characters]".')
    counts: dict[str, int] = {}
    with (importlib.resources.files("jieba") / "dict.txt").open(encoding="utf-8") as lines:
        for line in lines:  # "word count part-of-speech"
            word, count = line.split(" ", 2)[:2]
            for char in word:
                counts[char] = counts.get(char, 0) + int(count)
    return counts


def frequent_characters(count: int = 500) -> str:
    """The ``count`` most frequent GB2312 level-1 characters, most frequent first (see the module docstring).

    Args:
        count: How many, 1 to 3,755 (all of level 1).

    Raises:
        InvalidArgumentError: For a count out of range, or without jieba (the ``characters`` extra).
    """
    level1 = common_characters()
    if not 1 <= int(count) <= len(level1):
        raise InvalidArgumentError(f"The number of characters must be 1 to {len(level1)} (GB2312 level 1), not {count}.")
    counts = character_counts()
    return "".join(sorted(level1, key=lambda char: -counts.get(char, 0))[: int(count)])  # a stable sort


def render_character(char: str, font: Font, *, size: int = SIZE, augment: bool = True,
                     seed: int | Sequence[int] = 0):
    """``char`` in ``font`` as a ``(size, size)`` uint8 grayscale image: dark ink on white.

    Without ``augment``, the glyph's ink is centred at a font size of 0.8 ``size``, anti-aliased.
    With it, the font size, position, rotation, an elastic distortion (a smoothed random displacement
    field) and the stroke width (a Gaussian blur, then a threshold) are drawn from
    ``numpy.random.default_rng(seed)``: the same seed gives the same image.

    Args:
        char: One character.
        font: The face.
        size: Height and width in pixels.
        augment: Random scale, shift, rotation, elastic distortion and stroke width.
        seed: Seed of the augmentation.

    Raises:
        DataError: When the font cannot be opened or has no glyph with ink for ``char``.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    scale = rng.uniform(*GLYPH_SCALE) if augment else 0.8
    face = font.open(max(4, round(scale * size)))
    left, top, right, bottom = face.getbbox(char)
    if right <= left or bottom <= top:
        raise DataError(f"{font.name} draws no ink for {char!r}; pick another font (hub_core.data.fonts.find_fonts).")
    shift = rng.uniform(-SHIFT, SHIFT, 2) * size if augment else np.zeros(2)
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text((size / 2 - (left + right) / 2 + shift[0], size / 2 - (top + bottom) / 2 + shift[1]),
                                char, font=face, fill=255)
    if not augment:
        return 255 - np.asarray(canvas, np.uint8)
    canvas = canvas.rotate(rng.uniform(-ROTATION, ROTATION), resample=Image.BILINEAR)
    ink = _elastic(np.asarray(canvas, np.float32) / 255.0, rng, size)
    ink = _stroke_width(ink, rng, size)
    return (255 - np.round(ink * 255)).astype(np.uint8)


def _elastic(ink, rng, size: int):
    """``ink`` displaced by a random field smoothed with a Gaussian (Simard et al., 2003)."""
    import numpy as np
    from scipy import ndimage

    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    amplitude = rng.uniform(0, ELASTIC_AMPLITUDE) * size
    moved = []
    for grid in (rows, columns):
        field = ndimage.gaussian_filter(rng.standard_normal((size, size)), ELASTIC_SIGMA * size)
        moved.append(grid + field / (field.std() + 1e-12) * amplitude)
    return ndimage.map_coordinates(ink, moved, order=1, mode="constant", cval=0.0)


def _stroke_width(ink, rng, size: int):
    """Thicker or thinner strokes: blur, threshold, then a light blur so edges stay anti-aliased."""
    import numpy as np
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(ink, rng.uniform(*BLUR) * size / SIZE)
    peak = float(blurred.max()) or 1.0
    binary = (blurred > rng.uniform(*THRESHOLD) * peak).astype(np.float32)
    return np.clip(ndimage.gaussian_filter(binary, 0.5 * size / SIZE), 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class CharacterSet:
    """What :func:`characters` wrote.

    Attributes:
        train: The training image folder (one sub-folder per class).
        test: The held-out font's image folder, the same classes.
        characters: The classes' characters, in label order.
        train_fonts: The faces of ``train``.
        test_fonts: The faces of ``test``.
    """

    train: pathlib.Path
    test: pathlib.Path
    characters: str
    train_fonts: tuple[Font, ...]
    test_fonts: tuple[Font, ...]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The class folders' names (``00000_一``), in label order."""
        return class_names(self.characters)


def class_names(chars: str) -> tuple[str, ...]:
    """``00000_一``...: the frequency rank (so that sorting keeps label order) and the character."""
    return tuple(f"{rank:05d}_{char}" for rank, char in enumerate(chars))


def split_fonts(test_font: str | Sequence[str] = TEST_FONT,
                train_fonts: str | Sequence[str] | None = None) -> tuple[list[Font], list[Font]]:
    """``(train faces, test faces)``: ``train_fonts`` (default :data:`TRAIN_FONTS`) and ``test_font``, by name.

    Without ``train_fonts``, the default faces that are installed are used.

    Raises:
        DataError: When no CJK font is installed, or none of the default training faces.
        InvalidArgumentError: When a name matches no installed face, or a training face comes from the file
            of a test face.
    """
    test = find_fonts(test_font)
    if train_fonts is None:
        installed = {font.name for font in find_fonts()}
        wanted = [name for name in TRAIN_FONTS if name in installed]
        if not wanted:
            raise DataError(f"None of the default training fonts ({', '.join(TRAIN_FONTS)}) is installed; pass "
                            "train_fonts= (--train-font) with installed CJK faces, or install fonts-wqy-zenhei and "
                            "fonts-noto-cjk.")
        train_fonts = wanted
    train = find_fonts(train_fonts)
    shared = sorted({font.name for font in train if font.path in {t.path for t in test}})
    if shared:
        raise InvalidArgumentError(f"Training face(s) {', '.join(shared)} come from the font file of the test face(s) "
                                   f"{', '.join(t.name for t in test)}, so the test font would not be unseen; choose "
                                   "faces of other font files.")
    return train, test


def characters(out: str | os.PathLike, *, classes: int = 500, per_font: int = 20, test_per_font: int = 5,
               test_font: str | Sequence[str] = TEST_FONT, train_fonts: str | Sequence[str] | None = None,
               size: int = SIZE, seed: int = 0) -> CharacterSet:
    """Render the printed-character data set into ``out/train`` and ``out/test`` (see the module docstring).

    Each split folder is written whole, then moved into place: an interrupted run leaves none half-written.
    A rerun with the same settings keeps a complete split as it is (the same images); other settings replace it.

    Args:
        out: Folder (created when missing).
        classes: How many of the most frequent GB2312 level-1 characters, 2 to 3,755.
        per_font: Augmented images of each character in each training face.
        test_per_font: Augmented images of each character in each test face.
        test_font: Name (part) of the held-out face(s), e.g. ``"Noto Serif CJK SC Regular"``.
        train_fonts: Name parts of the training faces; default :data:`TRAIN_FONTS` (those installed).
        size: Height and width in pixels.
        seed: Seed of the augmentation.

    Returns:
        A :class:`CharacterSet`.

    Raises:
        DataError: When no CJK font is installed, or a face has no glyph for a character.
        InvalidArgumentError: For counts out of range, unknown font names, a test font shared with training, or
            without jieba (the ``characters`` extra).

    Example:
        >>> import hub_core as hub
        >>> chars = hub.data.characters("hanzi", classes=10, per_font=2, test_per_font=1)
        >>> train = hub.data.image_folder(chars.train, image_size=(64, 64), channels=1)
    """
    if int(classes) < 2:
        raise InvalidArgumentError(f"classes must be at least 2, not {classes}.")
    if int(per_font) < 1 or int(test_per_font) < 1:
        raise InvalidArgumentError(f"per_font and test_per_font must be at least 1, not {per_font} and {test_per_font}.")
    if int(size) < 16:
        raise InvalidArgumentError(f"size must be at least 16 pixels, not {size}.")
    chars = frequent_characters(int(classes))
    train, test = split_fonts(test_font, train_fonts)
    root = pathlib.Path(out)
    result = CharacterSet(root / "train", root / "test", chars, tuple(train), tuple(test))
    for folder, faces, count, split in ((result.train, train, int(per_font), "training fonts"),
                                        (result.test, test, int(test_per_font), "held-out font, never in training")):
        _write_split(folder, chars, faces, count, int(size), int(seed), split)
    return result


def _write_split(folder: pathlib.Path, chars: str, faces: Sequence[Font], count: int, size: int, seed: int,
                 split: str) -> None:
    from PIL import Image

    from hub_core.files import atomic_directory

    manifest: dict[str, Any] = {
        "description": DESCRIPTION.format(classes=len(chars), faces=", ".join(f.name for f in faces), split=split),
        "characters": chars, "order": "frequency in jieba's dictionary (dict.txt), GB2312 level 1",
        "fonts": [{"name": f.name, "file": os.path.basename(f.path), "index": f.index} for f in faces],
        "images_per_font": count, "size": size, "seed": seed, "augmentation": AUGMENTATION,
    }
    if _complete(folder, manifest, len(chars) * len(faces) * count):
        return  # written before with the same settings: the same images
    with atomic_directory(folder) as tmp:
        for name, char in zip(class_names(chars), chars):
            (tmp / name).mkdir()
            for font in faces:
                prefix = _slug(font.name)
                for index in range(count):
                    pixels = render_character(char, font, size=size, seed=image_seed(seed, font, char, index))
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, format="PNG")
                    (tmp / name / f"{prefix}_{index:04d}.png").write_bytes(buffer.getvalue())
        (tmp / DESCRIPTION_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def _complete(folder: pathlib.Path, manifest: dict[str, Any], images: int) -> bool:
    """Whether ``folder`` holds a split written with ``manifest`` (the same settings), all ``images`` of it."""
    try:
        return (json.loads((folder / DESCRIPTION_FILE).read_text(encoding="utf-8")) == manifest
                and sum(1 for _ in folder.glob("*/*.png")) == images)
    except (OSError, ValueError):
        return False


def image_seed(seed: int, font: Font, char: str, index: int) -> list[int]:
    """The seed of image ``index`` of ``char`` in ``font``: independent of which other faces or classes are rendered."""
    return [int(seed), zlib.crc32(font.name.encode()), ord(char), int(index)]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()
