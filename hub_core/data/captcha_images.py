"""The notes' inverted-character captcha: a row of Chinese characters, some of them upside down.

:func:`captcha` streams ``n`` images and their label bits as a batched
``tf.data`` dataset, rendered with Pillow from installed CJK fonts
(:mod:`hub_core.data.fonts`) batch by batch, so a million images never sit in
memory. Image ``i`` of seed ``s`` is always the same image: it is drawn from
``numpy.random.default_rng([s, i])``. Each of the ``length`` characters sits
in its own cell of ``size[0] / length`` pixels, its ink centred there, so an
inverted character differs from an upright one by its orientation alone (the
notes' generator also shifted inverted characters down by 6 pixels, which a
network can read instead of the glyph). Label bit ``i`` is 1 when character
``i`` is rotated by 180 degrees.

With ``augment`` (the default), every image gets a random light background,
random dark character colours, shifts of up to 2 pixels, rotations of up to
8 degrees, font sizes 22 to 26, noise lines and dots; without it, black
characters of size 25 on white, upright or inverted exactly. ``face_augment``
(off by default, so that the default images stay those the benchmark figures
were measured on) also varies each glyph's face, for training on few fonts:
its stroke width (a Gaussian blur, then a soft threshold), its scale, aspect
ratio and shear, drawn from a second stream, ``default_rng([s, i, 1])``, so
that everything else in the image stays as it is without it. All of these are
symmetric under the 180-degree rotation, so they never change a label.

:func:`write_captchas` writes them as files named as in the notes:
``<characters>_<inverted positions>.jpeg``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from typing import Any, Sequence

from hub_core.data.fonts import Font, find_fonts
from hub_core.errors import InvalidArgumentError

FONT_SIZE = 25
GLYPH_CACHE = 150_000  # rendered glyphs kept (at most ~120 MB): 3,755 characters x 5 sizes x 8 faces
GB2312_LEVEL1 = (0xB0, 0xD7)  # rows of GB2312's 3,755 level-1 characters, each of cells 0xA1..0xFE
# face_augment's ranges, per glyph
FACE_STREAM = 1  # its random stream: default_rng([seed, index, FACE_STREAM])
FACE_SCALE = (0.88, 1.08)
FACE_ASPECT = (0.88, 1.12)  # width over height
FACE_SHEAR = 0.15  # horizontal shift per pixel of height, either way
STROKE_BLUR = (0.3, 0.7)  # Gaussian blur radius in pixels, before the threshold
STROKE_THRESHOLD = (0.4, 0.62)  # of the blurred ink's peak: under 0.5 thickens strokes, over it thins them
STROKE_RAMP = 0.2  # width of the soft threshold, so that edges stay anti-aliased


@functools.lru_cache(maxsize=1)
def common_characters() -> str:
    """GB2312 level 1: the 3,755 common characters, in GB2312 order (by pinyin), from Python's codec."""
    found = []
    for row in range(GB2312_LEVEL1[0], GB2312_LEVEL1[1] + 1):
        for cell in range(0xA1, 0xFF):
            try:
                found.append(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:  # row 0xD7 ends at 0xF9
                continue
    return "".join(found)


@dataclasses.dataclass(frozen=True)
class Captcha:
    """One generated captcha.

    Attributes:
        image: ``(height, width, 3)`` uint8 RGB pixels.
        label: ``(length,)`` uint8 bits, 1 where the character is inverted.
        text: The characters, left to right.
        font: The face they were drawn in.
    """

    image: Any
    label: Any
    text: str
    font: Font

    @property
    def file_name(self) -> str:
        """``<characters>_<inverted positions>.jpeg``, as the notes name their files."""
        return f"{self.text}_{''.join(str(i) for i, bit in enumerate(self.label) if bit)}.jpeg"


@dataclasses.dataclass(frozen=True)
class _Settings:
    chars: str
    length: int
    inverted: tuple[int, int]
    size: tuple[int, int]
    fonts: tuple[Font, ...]
    augment: bool
    face_augment: bool = False


def _settings(chars, length, inverted, size, fonts, augment, face_augment=False) -> _Settings:
    """The generator's arguments, checked."""
    chars = common_characters() if chars is None else "".join(dict.fromkeys(chars))
    length = int(length)
    low, high = (int(inverted), int(inverted)) if isinstance(inverted, int) else (int(inverted[0]), int(inverted[1]))
    width, height = (int(size[0]), int(size[1]))
    if not chars:
        raise InvalidArgumentError("chars is empty; pass the characters to draw from, or None for GB2312 level 1.")
    if length < 1:
        raise InvalidArgumentError(f"length must be at least 1 character, not {length}.")
    if not 0 <= low <= high <= length:
        raise InvalidArgumentError(f"inverted must be a count or (least, most) within 0..length={length}, not {inverted!r}.")
    if width < length * 8 or height < 8:
        raise InvalidArgumentError(f"size (width, height) {size!r} leaves under 8x8 pixels per character; "
                                   f"make it at least ({length * 8}, 8).")
    if fonts is None or isinstance(fonts, str) or all(isinstance(font, str) for font in fonts):
        fonts = find_fonts(fonts)
    return _Settings(chars, length, (low, high), (width, height), tuple(fonts), bool(augment), bool(face_augment))


def render_captcha(index: int, *, seed: int, chars: str | None = None, length: int = 10,
                   inverted: int | Sequence[int] = (3, 6), size: Sequence[int] = (280, 28),
                   fonts: Sequence[Font | str] | str | None = None, augment: bool = True,
                   face_augment: bool = False) -> Captcha:
    """Captcha number ``index`` of ``seed`` (the image :func:`captcha` yields at that place).

    Args:
        index: Its number in the stream.
        seed: The stream's seed.
        chars: Characters to draw from (default: :func:`common_characters`).
        length: Characters per image.
        inverted: How many are inverted: a count or ``(least, most)``, both included.
        size: ``(width, height)`` in pixels.
        fonts: Faces, or name parts of installed faces (:func:`~hub_core.data.fonts.find_fonts`); None: every
            installed CJK face. Each image uses one, drawn at random.
        augment: Random colours, shifts, rotations, sizes and noise (see the module docstring).
        face_augment: Also vary each glyph's stroke width, scale, aspect ratio and shear.

    Returns:
        A :class:`Captcha`.

    Raises:
        DataError: When no CJK font is installed.
        InvalidArgumentError: For arguments out of range.
    """
    return _render(int(index), int(seed), _settings(chars, length, inverted, size, fonts, augment, face_augment))


@functools.lru_cache(maxsize=GLYPH_CACHE)
def _glyph(font: Font, size: int, char: str, tile_size: int):
    """``char`` in white on a black square of ``tile_size`` pixels (a Pillow "L" image), its ink centred."""
    from PIL import Image, ImageDraw

    face = font.open(size)
    tile = Image.new("L", (tile_size, tile_size), 0)
    left, top, right, bottom = face.getbbox(char)
    ImageDraw.Draw(tile).text((tile_size / 2 - (left + right) / 2, tile_size / 2 - (top + bottom) / 2), char,
                              font=face, fill=255)
    return tile


def _vary_face(tile, rng):
    """``tile`` (a glyph from :func:`_glyph`) scaled, stretched and sheared about its centre, its strokes thickened
    or thinned."""
    import numpy as np
    from PIL import Image, ImageFilter

    scale, aspect = rng.uniform(*FACE_SCALE), np.sqrt(rng.uniform(*FACE_ASPECT))
    forward = np.array([[scale * aspect, rng.uniform(-FACE_SHEAR, FACE_SHEAR) * scale / aspect],
                        [0.0, scale / aspect]])
    inverse = np.linalg.inv(forward)  # Pillow maps output pixels to input ones
    centre = np.full(2, tile.size[0] / 2)
    offset = centre - inverse @ centre
    tile = tile.transform(tile.size, Image.Transform.AFFINE, (*inverse[0], offset[0], *inverse[1], offset[1]),
                          resample=Image.BILINEAR)
    ink = np.asarray(tile.filter(ImageFilter.GaussianBlur(rng.uniform(*STROKE_BLUR))), np.float32)
    ink = np.clip((ink / (float(ink.max()) or 1.0) - rng.uniform(*STROKE_THRESHOLD)) / STROKE_RAMP + 0.5, 0.0, 1.0)
    return Image.fromarray(np.round(ink * 255).astype(np.uint8))


def _render(index: int, seed: int, settings: _Settings) -> Captcha:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    length, (width, height) = settings.length, settings.size
    font = settings.fonts[int(rng.integers(len(settings.fonts)))]
    text = "".join(settings.chars[int(i)] for i in rng.integers(len(settings.chars), size=length))
    label = np.zeros(length, np.uint8)
    label[rng.choice(length, int(rng.integers(settings.inverted[0], settings.inverted[1] + 1)), replace=False)] = 1
    cell = width // length
    tile_size = max(cell, height)
    if settings.augment:
        background = tuple(rng.integers(190, 256, 3).tolist())
        sizes = rng.integers(22, 27, length).tolist()
        tilts = rng.uniform(-8, 8, length).tolist()
        shifts = rng.integers(-2, 3, (length, 2)).tolist()
        colours = [tuple(c) for c in rng.integers(0, 110, (length, 3)).tolist()]
    else:
        background, sizes, tilts = (255, 255, 255), [FONT_SIZE] * length, [0.0] * length
        shifts, colours = [(0, 0)] * length, [(0, 0, 0)] * length
    face_rng = np.random.default_rng([seed, index, FACE_STREAM]) if settings.face_augment else None
    image = Image.new("RGB", (width, height), background)
    for position, char in enumerate(text):
        tile = _glyph(font, sizes[position], char, tile_size)
        if label[position]:
            tile = tile.transpose(Image.Transpose.ROTATE_180)
        if face_rng is not None:
            tile = _vary_face(tile, face_rng)
        if tilts[position]:
            tile = tile.rotate(tilts[position], resample=Image.BILINEAR)
        x = position * cell + (cell - tile_size) // 2 + shifts[position][0]
        y = (height - tile_size) // 2 + shifts[position][1]
        image.paste(colours[position], (x, y, x + tile_size, y + tile_size), tile)
    if settings.augment:
        draw = ImageDraw.Draw(image)
        lines = int(rng.integers(2, 5))
        ends = rng.uniform(0, (width, height, width, height), (lines, 4)).tolist()
        for end, colour in zip(ends, rng.integers(60, 200, (lines, 3)).tolist()):
            draw.line(end, fill=tuple(colour), width=1)
        dots = int(rng.integers(20, 60))
        pixels = np.asarray(image).copy()
        pixels[rng.integers(0, height, dots), rng.integers(0, width, dots)] = rng.integers(0, 256, (dots, 3))
        return Captcha(pixels, label, text, font)
    return Captcha(np.asarray(image, np.uint8), label, text, font)


def captcha(n: int, *, seed: int, chars: str | None = None, length: int = 10, inverted: int | Sequence[int] = (3, 6),
            size: Sequence[int] = (280, 28), fonts: Sequence[Font | str] | str | None = None, augment: bool = True,
            face_augment: bool = False, batch_size: int = 32):
    """``n`` generated captchas as a batched ``tf.data.Dataset`` of ``(images, labels)``, rendered as it is read.

    Images are float32 ``(batch, height, width, 3)`` pixels in ``[0, 255]``, labels float32 ``(batch, length)``
    bits (1: inverted). Every iteration yields the same images in the same order; batches are rendered in
    parallel and never all held in memory.

    Args:
        n: Number of images.
        seed: Seed: image ``i`` is :func:`render_captcha` ``(i, seed=seed, ...)``.
        chars: Characters to draw from (default: GB2312 level 1, :func:`common_characters`).
        length: Characters per image.
        inverted: How many are inverted per image: a count or ``(least, most)``.
        size: ``(width, height)`` in pixels.
        fonts: Faces or name parts of installed faces; None: every installed CJK face.
        augment: Random colours, shifts, rotations, sizes and noise.
        face_augment: Also vary each glyph's stroke width, scale, aspect ratio and shear (for training data).
        batch_size: Batch size.

    Returns:
        The dataset; ``dataset.settings`` holds the checked arguments, and ``dataset.class_names`` names the
        ``length`` positions (``position_0``...), which ``hub.train`` reads as the number of heads.

    Raises:
        DataError: When no CJK font is installed.
        InvalidArgumentError: For arguments out of range.

    Example:
        >>> import hub_core as hub
        >>> train = hub.data.captcha(1000, seed=1, fonts=["Zen Hei"])
        >>> images, labels = next(iter(train))
        >>> images.shape, labels.shape
        (TensorShape([32, 28, 280, 3]), TensorShape([32, 10]))
    """
    import numpy as np
    import tensorflow as tf

    if int(n) < 1 or int(batch_size) < 1:
        raise InvalidArgumentError(f"n and batch_size must be at least 1, not {n} and {batch_size}.")
    settings = _settings(chars, length, inverted, size, fonts, augment, face_augment)
    seed = int(seed)

    def render_batch(indices):
        rendered = [_render(int(i), seed, settings) for i in indices]
        return (np.stack([r.image for r in rendered]).astype(np.float32),
                np.stack([r.label for r in rendered]).astype(np.float32))

    def to_tensors(indices):
        images, labels = tf.numpy_function(render_batch, [indices], (tf.float32, tf.float32), stateful=False)
        images.set_shape((None, settings.size[1], settings.size[0], 3))
        labels.set_shape((None, settings.length))
        return images, labels

    dataset = (tf.data.Dataset.range(int(n)).batch(int(batch_size))
               .map(to_tensors, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
               .prefetch(tf.data.AUTOTUNE))
    dataset.settings = settings
    dataset.class_names = tuple(f"position_{i}" for i in range(settings.length))  # one binary head each
    return dataset


def write_captchas(out: str | os.PathLike, count: int, *, seed: int, start: int = 0, **options: Any) -> list[pathlib.Path]:
    """Write captchas ``start .. start + count - 1`` of ``seed`` as JPEG files named by their labels.

    Args:
        out: Folder (created when missing).
        count: Number of images.
        seed: Seed of the stream.
        start: Number of the first image.
        **options: :func:`render_captcha` options (chars, length, inverted, size, fonts, augment, face_augment).

    Returns:
        The paths written, in order; each file is written whole or not at all.

    Raises:
        DataError: When no CJK font is installed.
        InvalidArgumentError: For arguments out of range.
    """
    import io

    from PIL import Image

    from hub_core.files import atomic_write

    settings = _settings(options.pop("chars", None), options.pop("length", 10), options.pop("inverted", (3, 6)),
                         options.pop("size", (280, 28)), options.pop("fonts", None), options.pop("augment", True),
                         options.pop("face_augment", False))
    if options:
        raise InvalidArgumentError(f"Unknown captcha options {sorted(options)}; use chars, length, inverted, size, "
                                   "fonts, augment and face_augment.")
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(int(start), int(start) + int(count)):
        rendered = _render(index, int(seed), settings)
        buffer = io.BytesIO()
        Image.fromarray(rendered.image).save(buffer, format="JPEG", quality=95)
        path = folder / rendered.file_name
        atomic_write(path, buffer.getvalue())
        written.append(path)
    return written
