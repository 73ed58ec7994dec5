"""hub_core.vision.imaging.load_image on real photos and on every PIL mode we convert."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from hub_core.vision import imaging
from hub_core.errors import DataError, InvalidArgumentError
from image_helpers import foolbox_photos

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()  # 512x512 RGB, public domain


def save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def test_real_photos_load_from_every_source(astronaut, tmp_path):
    path = foolbox_photos()[0]
    from_path = imaging.load_image(path)
    assert from_path.shape == (512, 512, 3) and from_path.dtype == np.uint8
    with Image.open(path) as opened:
        reference = np.asarray(opened.convert("RGB"))
    np.testing.assert_array_equal(from_path, reference)
    np.testing.assert_array_equal(imaging.load_image(path.read_bytes()), reference)
    np.testing.assert_array_equal(imaging.load_image(str(path)), reference)
    with Image.open(path) as opened:
        np.testing.assert_array_equal(imaging.load_image(opened), reference)
    np.testing.assert_array_equal(imaging.load_image(astronaut), astronaut)
    np.testing.assert_array_equal(imaging.load_image(astronaut.astype("float32")), astronaut)


def test_resize_and_center_crop(astronaut):
    wide = astronaut[:256]  # 256x512
    resized = imaging.load_image(wide, (64, 96))
    assert resized.shape == (64, 96, 3)
    expected = np.asarray(Image.fromarray(wide).resize((96, 64), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resized, expected)
    cropped = imaging.load_image(wide, 64, crop="center", interpolation="nearest")
    assert cropped.shape == (64, 64, 3)
    # shorter side 256 -> 64 (scale 1/4): the center 64 columns of the 64x128 resize
    full = np.asarray(Image.fromarray(wide).resize((128, 64), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(cropped, full[:, 32:96])
    gray = imaging.load_image(wide, 32, crop="center", channels=1)
    assert gray.shape == (32, 32, 1)


def test_grayscale_palette_and_16bit(astronaut, tmp_path):
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    loaded = imaging.load_image(save(Image.fromarray(gray), tmp_path / "g.png"))
    np.testing.assert_array_equal(loaded, np.repeat(gray[..., None], 3, axis=-1))
    np.testing.assert_array_equal(imaging.load_image(tmp_path / "g.png", channels=1)[..., 0], gray)

    palette = Image.fromarray(astronaut).quantize(colors=64)
    expected = np.asarray(palette.convert("RGB"))
    np.testing.assert_array_equal(imaging.load_image(save(palette, tmp_path / "p.png")), expected)

    sixteen = (gray.astype(np.uint16) * 257)  # 0..255 -> 0..65535 exactly
    with Image.fromarray(sixteen) as image16:
        save(image16, tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as check:
        assert check.mode.startswith("I")
    np.testing.assert_array_equal(imaging.load_image(tmp_path / "g16.png")[..., 0], gray)
    np.testing.assert_array_equal(imaging.load_image(sixteen)[..., 0], gray)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half transparent
    rgba[4:6, :, 3] = 128
    loaded = imaging.load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"))
    np.testing.assert_array_equal(loaded[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(loaded[7, 7], [255, 255, 255])
    np.testing.assert_allclose(loaded[5, 0], [227, 127, 127], atol=1)  # half way to white

    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    palette.putpixel((0, 0), 1)
    palette.info["transparency"] = 0
    loaded = imaging.load_image(save(palette, tmp_path / "t.png", transparency=0))
    np.testing.assert_array_equal(loaded[0, 0], [40, 50, 60])
    np.testing.assert_array_equal(loaded[3, 3], [255, 255, 255])


def test_cmyk_and_exif_orientation(astronaut, tmp_path):
    cmyk = Image.fromarray(astronaut).convert("CMYK")
    loaded = imaging.load_image(save(cmyk, tmp_path / "c.tif"))
    np.testing.assert_array_equal(loaded, np.asarray(cmyk.convert("RGB")))

    tall = astronaut[:, :200]  # 512x200
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    save(Image.fromarray(tall), tmp_path / "r.jpg", exif=exif, quality=95)
    loaded = imaging.load_image(tmp_path / "r.jpg")
    assert loaded.shape == (200, 512, 3)
    with Image.open(tmp_path / "r.jpg") as raw:
        stored = np.asarray(raw.convert("RGB"))
        np.testing.assert_array_equal(imaging.load_image(raw), loaded)  # PIL images are turned upright too
    np.testing.assert_array_equal(loaded, np.rot90(stored, k=-1))


def test_corrupt_and_truncated_files_name_the_file(tmp_path):
    data = foolbox_photos()[1].read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="cut.jpg") as info:
        imaging.load_image(tmp_path / "cut.jpg")
    assert "truncated" in str(info.value)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="junk.png"):
        imaging.load_image(tmp_path / "junk.png")
    with pytest.raises(DataError, match="missing.jpg"):
        imaging.load_image(tmp_path / "missing.jpg")
    with pytest.raises(DataError, match="bytes"):
        imaging.load_image(b"GIF89a...")


def test_decompression_bombs_are_refused(monkeypatch, tmp_path):
    path = save(Image.new("RGB", (300, 200)), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 200 - 1)
    with pytest.raises(DataError, match="decompression bomb") as info:
        imaging.load_image(path)
    assert "big.png" in str(info.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice the limit: PIL's own error
    with pytest.raises(DataError, match="decompression bomb"):
        imaging.load_image(path.read_bytes())
    with pytest.raises(DataError, match="decompression"):
        imaging.load_image(np.zeros((100, 100, 3), np.uint8))


def test_bad_options_raise():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InvalidArgumentError, match="channels"):
        imaging.load_image(image, channels=4)
    with pytest.raises(InvalidArgumentError, match="crop"):
        imaging.load_image(image, 2, crop="random")
    with pytest.raises(InvalidArgumentError, match="interpolation"):
        imaging.load_image(image, 2, interpolation="cubic")
    with pytest.raises(InvalidArgumentError, match="list"):
        imaging.load_image([1, 2, 3])
    with pytest.raises(DataError, match="shape"):
        imaging.load_image(np.zeros((4, 4, 2), np.uint8))


def test_pixels_round_trip_through_files(astronaut, tmp_path):
    """load_pixels resizes by the longer side with PIL's Lanczos; save_image rounds, clips and writes atomically."""
    photo = astronaut[:300, :200]
    assert imaging.scaled_size(300, 200, 150) == (150, 100)
    assert imaging.scaled_size(300, 200, (7, 9)) == (7, 9) and imaging.scaled_size(300, 200, None) == (300, 200)
    pixels = imaging.load_pixels(photo, 150)
    assert pixels.dtype == np.float32 and pixels.shape == (150, 100, 3)
    np.testing.assert_array_equal(pixels, np.asarray(Image.fromarray(photo).resize((100, 150), Image.Resampling.LANCZOS)))
    noisy = photo.astype("float32") + np.random.default_rng(0).uniform(-0.49, 0.49, photo.shape)
    noisy[0, 0] = (-20.0, 300.0, 127.6)
    imaging.save_image(noisy, tmp_path / "out.png")
    expected = photo.copy()
    expected[0, 0] = (0, 255, 128)
    with Image.open(tmp_path / "out.png") as written:
        np.testing.assert_array_equal(np.asarray(written), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left
    (tmp_path / "notes.txt").write_text("not an image")
    imaging.save_image(photo, tmp_path / "a.jpg")
    assert imaging.list_images(tmp_path) == [str(tmp_path / "a.jpg"), str(tmp_path / "out.png")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        imaging.list_images(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        imaging.list_images(tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match="positive"):
        imaging.load_pixels(photo, 0)
