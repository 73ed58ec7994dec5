"""Image input and output for style transfer: RGB pixels in [0, 255].

The transform network rescales internally, so preprocessing is only reading
an image, resizing it and converting it to float32. Imports numpy and Pillow
lazily; never TensorFlow or Keras.
"""

from __future__ import annotations

import os
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def preprocess(images):
    """A copy of ``images`` as float32 pixels in [0, 255] (what the network takes)."""
    import numpy as np

    return np.array(images, dtype="float32", copy=True)


def read_image(image: Any):
    """Read an image from a path, a PIL image or an array as float32 RGB ``(H, W, 3)``.

    Grey images are repeated over three channels and an alpha channel is
    dropped. Float arrays are taken as pixels in [0, 255].

    Raises:
        DataError: When the file cannot be read or the array is not an image.
    """
    import numpy as np

    from hub_core.errors import DataError

    if isinstance(image, (str, os.PathLike)):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(image) as opened:
                return np.asarray(opened.convert("RGB"), dtype="float32")
        except (OSError, UnidentifiedImageError) as error:
            raise DataError(f"Cannot read image {os.fspath(image)}: {error}; pass a JPEG or PNG file.") from error
    if hasattr(image, "convert") and hasattr(image, "size"):
        return np.asarray(image.convert("RGB"), dtype="float32")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise DataError(f"An image must be (height, width, 3) pixels, got an array of shape {array.shape}.")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array[..., :3].astype("float32")


def target_size(height: int, width: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    """``(height, width)`` after resizing: ``size`` is the longer side, an exact ``(h, w)``, or None."""
    from hub_core.errors import InvalidArgumentError

    if size is None:
        return height, width
    if isinstance(size, int):
        if size < 1:
            raise InvalidArgumentError(f"size must be a positive number of pixels, got {size}.")
        scale = size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    if len(size) != 2 or min(size) < 1:
        raise InvalidArgumentError(f"size must be an int (longer side) or (height, width), got {size!r}.")
    return int(size[0]), int(size[1])


def resize(image, size: int | tuple[int, int] | None):
    """Resize float RGB pixels with Lanczos filtering (see :func:`target_size`)."""
    import numpy as np
    from PIL import Image

    height, width = image.shape[:2]
    new_height, new_width = target_size(height, width, size)
    if (new_height, new_width) == (height, width):
        return np.asarray(image, dtype="float32")
    channels = [
        np.asarray(Image.fromarray(np.asarray(image[..., c], dtype="float32"), mode="F").resize((new_width, new_height), Image.LANCZOS))
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 255.0)


def load_image(image: Any, size: int | tuple[int, int] | None = None):
    """:func:`read_image` then :func:`resize`."""
    return resize(read_image(image), size)


def to_uint8(image):
    """Round and clip float pixels to a ``uint8`` array."""
    import numpy as np

    return np.clip(np.rint(np.asarray(image, dtype="float32")), 0, 255).astype("uint8")


def save_image(image, path: str | os.PathLike) -> None:
    """Write pixels to an image file atomically (temp file + ``os.replace``)."""
    from PIL import Image

    path = os.fspath(path)
    root, suffix = os.path.splitext(path)
    temp = f"{root}.partial{suffix or '.png'}"
    try:
        Image.fromarray(to_uint8(image)).save(temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image files directly inside ``folder`` (by suffix).

    Raises:
        DataError: When the folder does not exist or holds no images.
    """
    from hub_core.errors import DataError

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DataError(f"Content folder {folder} does not exist; pass a folder of JPEG/PNG photos or a dataset.")
    files = sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not files:
        raise DataError(f"Folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); add photos or pass a dataset.")
    return files
