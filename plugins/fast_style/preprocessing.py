"""Image input and output for style transfer: RGB pixels in [0, 255].

The transform network rescales internally, so preprocessing is only reading
an image, resizing it and converting it to float32. Imports numpy and Pillow
lazily; never TensorFlow or Keras.
"""

from __future__ import annotations

import os
from typing import Any


def preprocess(images):
    """A copy of ``images`` as float32 pixels in [0, 255] (what the network takes)."""
    import numpy as np

    return np.array(images, dtype="float32", copy=True)


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


def load_image(image: Any, size: int | tuple[int, int] | None = None):
    """Read a path, bytes, PIL image or array as float32 RGB pixels in [0, 255], resized with Lanczos.

    Decoding and colour conversion are :func:`hub_core.imaging.load_image`'s;
    ``size`` is as in :func:`target_size`.

    Raises:
        DataError: When the image cannot be read.
    """
    from hub_core import imaging

    pixels = imaging.load_image(image)
    height, width = pixels.shape[:2]
    target = target_size(height, width, size)
    if target != (height, width):
        pixels = imaging.load_image(pixels, target, interpolation="lanczos")
    return pixels.astype("float32")


def to_uint8(image):
    """Round and clip float pixels to a ``uint8`` array."""
    import numpy as np

    return np.clip(np.rint(np.asarray(image, dtype="float32")), 0, 255).astype("uint8")


def save_image(image, path: str | os.PathLike) -> None:
    """Write pixels to an image file atomically (the format follows the suffix)."""
    from PIL import Image

    from hub_core import runs

    with runs.atomic_path(path) as temp:
        Image.fromarray(to_uint8(image)).save(temp)


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image files directly inside ``folder`` (by suffix).

    Raises:
        DataError: When the folder does not exist or holds no images.
    """
    from hub_core.data import IMAGE_EXTENSIONS
    from hub_core.errors import DataError

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DataError(f"Content folder {folder} does not exist; pass a folder of JPEG/PNG photos or a dataset.")
    files = sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    if not files:
        raise DataError(f"Folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add photos or pass a dataset.")
    return files
