"""Image loading for the image models: any common source to an RGB uint8 array.

``load_image`` reads a path, bytes, a PIL image or an array and returns a
``(height, width, channels)`` uint8 array, using PIL and numpy only (no
TensorFlow). Conversions:

* EXIF orientation is applied first, so the pixels are upright;
* grayscale (``L``, ``1``) is repeated to RGB (or kept with ``channels=1``);
* alpha (``RGBA``, ``LA``, palette images with transparency) is composited on
  a white background, not dropped, so transparent areas become white;
* palette (``P``) images are expanded to their colours;
* 16-bit images (``I;16``, ``I``) are scaled from 0..65535 to 0..255;
* CMYK (and YCbCr, LAB, HSV) are converted to RGB by PIL.

A file PIL cannot decode, or one that is truncated, raises ``DataError``
naming the file. Images with more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``
(PIL's decompression-bomb limit) are refused with ``DataError``.

For image-to-image models (style transfer), ``load_pixels`` reads float32
pixels resized by their longer side, ``save_image`` writes pixels atomically,
``to_uint8`` rounds and clips, and ``list_images`` lists a folder's images (sub-folders included).
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from typing import Any, Sequence

import numpy as np

from hub_core.errors import DataError, ImageTooLargeError, InvalidArgumentError

# The side images are resized to for a model without a fixed input size.
DEFAULT_MODEL_SIZE = 224

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
CROPS = (None, "center")


def load_image(
    source: Any,
    size: int | Sequence[int] | None = None,
    *,
    crop: str | None = None,
    channels: int = 3,
    interpolation: str = "bilinear",
) -> np.ndarray:
    """Load one image as a ``(height, width, channels)`` uint8 array.

    Args:
        source: A path, ``bytes``, a ``PIL.Image.Image`` or an array
            (``(h, w)``, ``(h, w, 1|3|4)``; floats are taken as 0..255 values,
            uint16 as 0..65535).
        size: Output size: an int (square) or ``(height, width)``; None keeps
            the image's size.
        crop: None resizes to ``size`` exactly (the aspect ratio may change);
            ``"center"`` resizes the shorter side to fit, keeping the aspect
            ratio, then crops the center.
        channels: 3 for RGB, 1 for grayscale.
        interpolation: One of ``INTERPOLATIONS``.

    Returns:
        A uint8 array.

    Raises:
        DataError: When the source cannot be read, is truncated or corrupt,
            or has more pixels than PIL's decompression-bomb limit.
        InvalidArgumentError: For unknown options.

    Example:
        >>> image = load_image("cat.jpg", 224, crop="center")
        >>> image.shape
        (224, 224, 3)
    """
    from PIL import Image

    if channels not in (1, 3):
        raise InvalidArgumentError(f"channels must be 1 or 3, not {channels}.")
    if crop not in CROPS:
        raise InvalidArgumentError(f"crop must be None or 'center', not {crop!r}.")
    if interpolation not in INTERPOLATIONS:
        raise InvalidArgumentError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}.")
    target = _target_size(size)
    image = _open(source)
    image = _to_rgb_or_gray(image)
    if channels == 1 and image.mode != "L":
        image = image.convert("L")
    elif channels == 3 and image.mode != "RGB":
        image = image.convert("RGB")
    if target is not None:
        image = _resize(image, target, crop, getattr(Image.Resampling, interpolation.upper()))
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def load_images(sources: Sequence[Any], size: int | Sequence[int], **kwargs: Any) -> np.ndarray:
    """Load several images into one ``(n, height, width, channels)`` uint8 batch.

    Args:
        sources: Anything :func:`load_image` accepts, one per image.
        size: Common output size (needed to stack).
        **kwargs: ``crop``, ``channels``, ``interpolation``.
    """
    return np.stack([load_image(source, size, **kwargs) for source in sources])


def decode_file(file: str | os.PathLike) -> np.ndarray:
    """One image file as an upright RGB uint8 array at its own size (how ``hub.predict`` reads a file).

    Raises:
        DataError: When the file does not exist or cannot be read as an image.
    """
    if not pathlib.Path(file).is_file():
        raise DataError(f"Image file {file} does not exist; check the path.")
    return load_image(str(file))


def model_input_batch(images: Sequence[Any], model, image_size: Sequence[int] | None = None) -> np.ndarray:
    """Decoded images as the float32 batch ``hub.predict`` feeds ``model``: center-cropped to its input size.

    ``image_size`` (``(height, width)``) overrides the model's input size; 224 where it has none.
    """
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    height, width, channels = (shape + (None, None, None))[:3]
    if image_size is not None:
        height, width = image_size[0], image_size[-1]
    size = (int(height or DEFAULT_MODEL_SIZE), int(width or DEFAULT_MODEL_SIZE))
    return load_images(images, size, crop="center", channels=1 if channels == 1 else 3).astype("float32")


def read_image_files(files: Sequence[Any], model, image_size: Sequence[int] | None = None) -> np.ndarray:
    """Image files as the float32 batch ``hub.predict`` feeds ``model`` (int8 calibration images, too).

    Raises:
        DataError: When a file does not exist or cannot be read as an image.
    """
    return model_input_batch([decode_file(file) for file in files], model, image_size)


def scaled_size(height: int, width: int, size: int | Sequence[int] | None) -> tuple[int, int]:
    """``(height, width)`` after resizing: ``size`` is the longer side, an exact ``(h, w)``, or None (unchanged).

    Raises:
        InvalidArgumentError: For a size that is not positive.
    """
    if size is None:
        return height, width
    if isinstance(size, (int, np.integer)):
        if size < 1:
            raise InvalidArgumentError(f"size must be a positive number of pixels, got {size}.")
        scale = size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    if len(size) != 2 or min(size) < 1:
        raise InvalidArgumentError(f"size must be an int (longer side) or (height, width), got {size!r}.")
    return int(size[0]), int(size[1])


def load_pixels(source: Any, size: int | Sequence[int] | None = None) -> np.ndarray:
    """Read an image as float32 RGB pixels in [0, 255], resized with Lanczos.

    Decoding and colour conversion are :func:`load_image`'s.

    Args:
        source: Anything :func:`load_image` accepts.
        size: The longer side in pixels (keeping the aspect ratio), an exact
            ``(height, width)``, or None to keep the image's size.

    Returns:
        A float32 ``(height, width, 3)`` array.

    Raises:
        DataError: When the image cannot be read.
        InvalidArgumentError: For a size that is not positive.
    """
    pixels = load_image(source)
    target = scaled_size(*pixels.shape[:2], size)
    if target != pixels.shape[:2]:
        pixels = load_image(pixels, target, interpolation="lanczos")
    return pixels.astype(np.float32)


def to_uint8(pixels: Any) -> np.ndarray:
    """Round and clip pixel values (0..255 scale) to a ``uint8`` array."""
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64)), 0, 255).astype(np.uint8)


def save_image(pixels: Any, path: str | os.PathLike) -> None:
    """Write pixels (rounded and clipped to ``uint8``) to an image file atomically; the format follows the suffix."""
    from PIL import Image

    from hub_core.files import atomic_path

    with atomic_path(path) as temp:
        Image.fromarray(to_uint8(pixels)).save(temp)


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image files in ``folder`` and its sub-folders (by suffix, see ``IMAGE_EXTENSIONS``).

    Hidden files and folders (names starting with ``.``) are skipped, so a
    folder of class sub-folders lists every photo of every class.

    Raises:
        DataError: When the folder does not exist or holds no images.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DataError(f"Image folder {folder} does not exist; pass a folder of JPEG/PNG images.")
    files = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        files.extend(os.path.join(parent, name) for name in names
                     if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise DataError(f"Folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}), "
                        "neither directly nor in its sub-folders; add some.")
    return sorted(files)


def _target_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if int(height) < 1 or int(width) < 1:
        raise InvalidArgumentError(f"size must be positive, got {size!r}.")
    return int(height), int(width)


def _describe(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def _open(source: Any):
    """Open ``source`` as a fully decoded, upright PIL image."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, np.ndarray):
        return _from_array(source)
    name = _describe(source)
    if isinstance(source, Image.Image):
        return _decoded(lambda: _checked_pixels(source, name), name, owned=False)
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        if path.is_dir():
            raise DataError(f"{path} is a directory, not an image file; pass the path of an image file.")
        if not path.is_file():
            raise DataError(f"Image file {path} does not exist; check the path.")
        stream: Any = path
    elif isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    else:
        raise InvalidArgumentError(
            f"Cannot load an image from {type(source).__name__}; pass a path, bytes, a PIL image or an array."
        )

    def open_stream():
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream)

    try:
        return _decoded(open_stream, name, owned=True)
    except UnidentifiedImageError:
        raise DataError(f"Image {name} is not an image format PIL can read; pass a JPEG, PNG, BMP, GIF, TIFF or WebP file.") from None


def _decoded(opener, name: str, *, owned: bool):
    """Run ``opener()`` and decode its image upright (EXIF orientation applied), with errors for people.

    ``exif_transpose`` returns a copy, so an ``owned`` image (opened here) is
    closed in every case; a caller's image is left open.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    opened = None
    try:
        opened = opener()
        opened.load()
        image = ImageOps.exif_transpose(opened)
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(f"Image {name} is refused as a decompression bomb ({error}); raise PIL.Image.MAX_IMAGE_PIXELS if you trust it.") from None
    except UnidentifiedImageError:
        raise
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"Image {name} is corrupt or truncated ({error}); re-download or re-export it.") from None
    finally:
        if owned and opened is not None:
            opened.close()
    return image


def _checked_pixels(image, name: str):
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise ImageTooLargeError(
            f"Image {name} has {image.width * image.height} pixels, over PIL's decompression-bomb limit of {limit}; "
            "raise PIL.Image.MAX_IMAGE_PIXELS if you trust it."
        )
    return image


def _from_array(array: np.ndarray):
    from PIL import Image

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise DataError(f"An image array must be (h, w) or (h, w, 1|3|4), got shape {array.shape}.")
    if array.dtype == np.uint16:
        array = _scale_16bit(array)
    elif array.dtype != np.uint8:
        array = to_uint8(array)
    mode = "L" if array.ndim == 2 else ("RGB" if array.shape[-1] == 3 else "RGBA")
    return _checked_pixels(Image.fromarray(np.ascontiguousarray(array), mode), f"<array {array.shape}>")


def _scale_16bit(array: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(array.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _to_rgb_or_gray(image):
    """Convert any PIL mode to ``RGB`` or ``L``, compositing alpha on white."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return Image.fromarray(_scale_16bit(np.asarray(image)), "L")
    if image.mode == "F":
        return Image.fromarray(to_uint8(image), "L")
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("RGB")


def _resize(image, target: tuple[int, int], crop: str | None, resample):
    height, width = target
    if crop is None:
        return image.resize((width, height), resample)
    scale = max(height / image.height, width / image.width)
    resized = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))), resample)
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))
