"""Image folders (one sub-folder per class) as replayable, batched ``tf.data`` datasets.

Images are decoded with Pillow (:func:`hub_core.vision.imaging.load_image`, as
``hub predict`` does), converted to the model's channels (grayscale, RGBA and
palette images included), center-cropped and resized to the model's input
size and given to the model as float32 pixel values in ``[0, 255]``: the
model's own preprocessing is inside the model (``hub.train`` and
``hub.fine_tune`` build a named model with its variant's declared
preprocessing inside, exactly once). Pass
``preprocess=`` (a function of a float32 image batch written with
``keras.ops``) for a model that expects preprocessed inputs.

Unreadable entries (not an image, zero bytes, corrupt or truncated, over
PIL's decompression-bomb pixel limit, a directory with an image's name, a
broken symbolic link or a symbolic link loop) are skipped, counted and named in a warning, listed in
``dataset.skipped_files`` and recorded in the run directory by
``hub.fine_tune``; ``strict=True`` raises :class:`DataError` instead.
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import os
import pathlib
import stat
import warnings
from typing import Any, Callable, Sequence

from hub_core.data.cluster import cluster_strategy
from hub_core.data.pipeline import Augment, Pipeline
from hub_core.errors import DataError, InvalidArgumentError
from hub_core.vision.imaging import IMAGE_EXTENSIONS, load_image


# --- image folders ---------------------------------------------------------
def image_folder(path: str | os.PathLike, *, model: Any = None, image_size: Sequence[int] | None = None,
                 channels: int | None = None, batch_size: int = 32, validation_split: float | None = None,
                 seed: int = 0, augment: Any = None, shuffle: bool = True, strict: bool = False,
                 preprocess: Callable | None = None, class_names: Sequence[str] | None = None,
                 crop: str | None = "center"):
    """Images in ``path/<class name>/*`` as a batched ``tf.data.Dataset``.

    Args:
        path: Folder with one sub-folder per class; class names are the sorted sub-folder names.
        model: A ``keras.Model`` or hub model name; gives the image size and channels when not given.
        image_size: ``(height, width)``; defaults to the model's input size.
        channels: 1 or 3; defaults to the model's input channels, else 3.
        batch_size: Batch size.
        validation_split: Fraction of the files held out (per class, chosen with ``seed``);
            when given, ``(train, validation)`` is returned.
        seed: Seed of the split, the shuffle and the augmentation.
        augment: None, True (default :class:`Augment`), a dict of Augment fields, or an Augment.
            Only the training part is augmented.
        shuffle: Shuffle the training part every epoch.
        strict: Raise :class:`DataError` on the first unreadable file instead of skipping it.
        preprocess: Optional function applied to each float32 batch (see the module docstring).
        class_names: Only these sub-folders, in this label order.
        crop: ``"center"`` (default, as ``hub predict``) resizes the shorter side and crops the
            center; None resizes to ``image_size`` exactly.

    Returns:
        A dataset yielding ``(images float32 (b, h, w, c) in [0, 255], labels int32 (b,))``, with
        ``class_names``, ``skipped_files`` and ``hub_pipeline`` attributes; or ``(train, validation)``.

    Raises:
        DataError: For a missing folder, no classes, no readable images, or (strict) an unreadable file.
    """
    cluster_strategy()  # TensorFlow needs a multi-worker strategy before anything else
    root = pathlib.Path(path)
    if not root.is_dir():
        raise DataError(f"Image folder {root} does not exist; pass a folder with one sub-folder of images per class.")
    size, channels = input_geometry(model, image_size, channels)
    names = list(class_names) if class_names else sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DataError(f"{root} has no class sub-folders; put the images of each class in {root}/<class name>/.")
    files, labels, skipped = scan_class_folders(root, names, strict=strict)
    if not files:
        raise DataError(f"{root} holds no readable image in {', '.join(names)}; supported types: {', '.join(IMAGE_EXTENSIONS)}.")
    if skipped:
        shown = ", ".join(f"{s['path']} ({s['reason']})" for s in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(f"Skipped {len(skipped)} unreadable file(s) in {root}: {shown}{more}.", stacklevel=2)
    parts = _split(labels, validation_split, seed)
    datasets = []
    for index, part in enumerate(parts):
        part_files = [files[i] for i in part]
        part_labels = [labels[i] for i in part]
        fingerprint = _fingerprint_files(part_files, part_labels, size, channels, crop)
        elements = _decode_files(part_files, part_labels, size, channels, crop)
        training = index == 0
        source = {"folder": os.fspath(root)}
        if validation_split:
            source.update(part="training" if training else "validation", validation_split=validation_split, split_seed=seed)
        pipeline = Pipeline(
            elements, len(part_files), batch_size, fingerprint, shuffle=shuffle and training, seed=seed,
            augment=Augment.coerce(augment) if training else None, preprocess=preprocess, class_names=names,
            skipped_files=skipped, source=source,
        )
        datasets.append(pipeline.dataset())
    return tuple(datasets) if validation_split else datasets[0]


def input_geometry(model: Any, image_size: Sequence[int] | None, channels: int | None) -> tuple[tuple[int, int], int]:
    """``((height, width), channels)`` to decode images for ``model``: the given values, else the model's input.

    Args:
        model: A ``keras.Model``, a hub model name or None.
        image_size: ``(height, width)`` (or ``(size,)``), or None for the model's input size.
        channels: 1 or 3, or None for the model's input channels (else 3).

    Raises:
        InvalidArgumentError: When no size is given and the model does not fix one, or for other channel counts.
    """
    shape = _model_input_shape(model) if model is not None else None
    if image_size is None:
        if not shape or shape[0] is None or shape[1] is None:
            raise InvalidArgumentError(
                "image_size is needed: the model does not fix its input size; pass image_size=(height, width)."
            )
        image_size = shape[:2]
    if channels is None:
        channels = shape[2] if shape and len(shape) == 3 and shape[2] else 3
    if channels not in (1, 3):
        raise InvalidArgumentError(f"channels must be 1 or 3, not {channels}.")
    size = tuple(int(v) for v in (image_size if len(image_size) == 2 else (image_size[0], image_size[0])))
    return size, int(channels)


def _model_input_shape(model: Any) -> tuple | None:
    if isinstance(model, str):
        from hub_core.hub import catalog

        return tuple(catalog.info(model)["variant"]["input_shape"] or ()) or None
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list):
        shape = shape[0]
    return tuple(shape[1:]) if shape else None


def scan_class_folders(root: pathlib.Path, names: list[str], *, strict: bool) -> tuple[list[str], list[int], list[dict]]:
    """The readable images under ``root/<name>/`` for each class name, without decoding their pixels.

    Returns:
        ``(files, labels, skipped)``: the image paths, their class indices into ``names`` and, for each
        unreadable file, ``{"path", "reason"}``.

    Raises:
        DataError: For a missing class folder, or (``strict``) the first unreadable file.
    """
    from PIL import Image

    candidates = []
    for label, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"Class folder {folder} does not exist; class_names must name sub-folders of {root}.")
        candidates += [(p, label) for p in sorted(folder.rglob("*")) if not _is_sub_folder(p)]
    # The filter is process-wide, so it is set here, around the workers, not in each of them.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
            reasons = list(pool.map(lambda item: _unreadable(item[0]), candidates))
    files, labels, skipped = [], [], []
    for (file, label), reason in zip(candidates, reasons):
        if reason is None:
            files.append(str(file))
            labels.append(label)
            continue
        if strict:
            raise DataError(f"{file} is {reason}; remove it or pass strict=False to skip unreadable files.")
        skipped.append({"path": str(file), "reason": reason})
    return files, labels, skipped


def _is_sub_folder(path: pathlib.Path) -> bool:
    """Whether ``path`` is a folder to look into rather than a would-be image (a folder named ``x.jpg`` is not)."""
    return path.is_dir() and not path.name.lower().endswith(IMAGE_EXTENSIONS)


def _unreadable(path: pathlib.Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None when it can.

    Run with PIL's ``DecompressionBombWarning`` turned into an error (see
    :func:`scan_class_folders`): an image over PIL's pixel limit would fail later, while training.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        info = path.stat()
    except FileNotFoundError:
        return "a broken symbolic link (its target does not exist)"
    except OSError as error:
        return "a symbolic link loop" if error.errno == errno.ELOOP else f"unreadable ({error.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "a directory, not an image file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size == 0:
        return "empty (zero bytes)"
    try:
        with Image.open(path) as image:
            image.load()
    except UnidentifiedImageError:
        return "not an image"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return f"refused as a decompression bomb ({error}; raise PIL.Image.MAX_IMAGE_PIXELS if you trust it)"
    except (OSError, SyntaxError, ValueError) as error:
        return f"corrupt or truncated ({' '.join(str(error).split())})"
    return None


DESCRIPTION_FILE = "dataset.json"  # an image folder's own description: {"description": "...", ...}
DESCRIPTION_BUDGET = 1 << 20  # bytes read of it, at most


def folder_description(path: str | os.PathLike) -> str | None:
    """The ``description`` of an image folder's ``dataset.json`` (as :func:`hub_core.data.characters` writes), or None.

    The file is data from whoever made the folder: it is read only up to :data:`DESCRIPTION_BUDGET` bytes, and a
    file that is larger, not JSON or without a text ``description`` counts as none.
    """
    import json

    file = pathlib.Path(path) / DESCRIPTION_FILE
    try:
        if not file.is_file() or file.stat().st_size > DESCRIPTION_BUDGET:
            return None
        described = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    text = described.get("description") if isinstance(described, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def read_image(path: str | bytes, size: Sequence[int], channels: int = 3, crop: str | None = "center"):
    """Decode one image file to uint8 ``(h, w, channels)`` as ``hub predict`` does (:func:`hub_core.vision.imaging.load_image`)."""
    return load_image(path.decode() if isinstance(path, bytes) else path, tuple(size), crop=crop, channels=channels)


def _decode_files(files: list[str], labels: list[int], size, channels: int, crop: str | None):
    import tensorflow as tf

    def decode(path):
        image = tf.numpy_function(lambda p: read_image(p, size, channels, crop), [path], tf.uint8, stateful=False)
        image.set_shape((size[0], size[1], channels))
        return image

    dataset = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.int32)))
    dataset = dataset.map(lambda p, y: (decode(p), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.cache()


def _fingerprint_files(files: list[str], labels: list[int], size, channels: int, crop) -> str:
    digest = hashlib.sha256(f"files:{size}:{channels}:{crop}".encode())
    for file, label in zip(files, labels):
        info = os.stat(file)
        digest.update(f"{file}\0{info.st_size}\0{info.st_mtime_ns}\0{label}\n".encode())
    return digest.hexdigest()


def _split(labels: list[int], fraction: float | None, seed: int) -> list[list[int]]:
    """Indices of the training part (and the validation part), stratified by label."""
    import numpy as np

    if not fraction:
        return [list(range(len(labels)))]
    if not 0 < fraction < 1:
        raise InvalidArgumentError(f"validation_split must be between 0 and 1, not {fraction}.")
    rng = np.random.default_rng(seed)
    labels_array = np.asarray(labels)
    train, validation = [], []
    for label in np.unique(labels_array):
        members = rng.permutation(np.flatnonzero(labels_array == label))
        count = int(round(len(members) * fraction))
        validation += members[:count].tolist()
        train += members[count:].tolist()
    if not train or not validation:
        raise DataError(f"validation_split={fraction} leaves an empty part of {len(labels)} files; use more data or another fraction.")
    return [sorted(train), sorted(validation)]
