"""Input pipelines for training: image folders and in-memory arrays.

Both functions return batched ``tf.data.Dataset`` objects (decoding in
parallel, cached, prefetched) that can be passed to ``model.fit`` directly,
and that carry what the training loop needs to replay any epoch exactly
(``dataset.hub_pipeline``): this is what makes resume-after-crash and the
feature cache exact.

Images are decoded with Pillow (:func:`hub_core.vision.imaging.load_image`, as
``hub predict`` does), converted to the model's channels (grayscale, RGBA
and palette images included), center-cropped and resized to the model's input
size and given to the model as float32 pixel values in ``[0, 255]``: the
model's own preprocessing is inside the model (hub image models are built
with ``include_preprocessing=True`` by ``hub.fine_tune``). Pass
``preprocess=`` (a function of a float32 image batch written with
``keras.ops``) for a model that expects preprocessed inputs.

Unreadable files (not an image, zero bytes, corrupt or truncated) are
skipped, counted and named in a warning, listed in
``dataset.skipped_files`` and recorded in the run directory by
``hub.fine_tune``; ``strict=True`` raises :class:`DataError` instead.

Example:
    >>> import hub_core as hub
    >>> train, val = hub.data.image_folder("flowers/", model="vgg16", image_size=(64, 64),
    ...                                    batch_size=32, validation_split=0.2, seed=1, augment=True)
    >>> train.class_names
    ('daisy', 'tulip')
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import pathlib
import warnings
from typing import Any, Callable, Sequence

from hub_core.errors import DataError, InvalidArgumentError
from hub_core.tabular import encode_labels, read_frame, table, uci_adult  # noqa: F401  (tables: CSV, UCI, parquet)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclasses.dataclass(frozen=True)
class Augment:
    """Random augmentation of training images, as in the seed notes.

    Attributes:
        flip: Random left-right flips.
        crop: Pad by this fraction of the size on each side, then crop back at a random place (0 = off).
        brightness: Random brightness change, as a fraction of the 0..255 range (0 = off).
        contrast: Random contrast factor in ``[1 - contrast, 1 + contrast]`` (0 = off).
    """

    flip: bool = True
    crop: float = 0.1
    brightness: float = 0.1
    contrast: float = 0.1

    @classmethod
    def coerce(cls, value: Any) -> "Augment | None":
        """Turn ``augment=`` (None/False, True, a dict or an Augment) into an Augment or None."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise InvalidArgumentError(
                    f"Unknown augmentation options {sorted(unknown)}; use flip, crop, brightness and contrast."
                )
            return cls(**value)
        raise InvalidArgumentError(f"augment must be None, True, a dict or hub_core.data.Augment, not {type(value).__name__}.")

    def apply(self, image, seed):
        """Augment one float32 image ``(h, w, c)`` in ``[0, 255]`` with a stateless ``seed`` of shape (2,)."""
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(seed, num=4)
        if self.crop:
            height, width = image.shape[0], image.shape[1]
            pad_h, pad_w = max(1, round(height * self.crop)), max(1, round(width * self.crop))
            padded = tf.image.resize_with_crop_or_pad(image, height + 2 * pad_h, width + 2 * pad_w)
            image = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seeds[0])
        if self.flip:
            image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
        if self.brightness:
            image = tf.image.stateless_random_brightness(image, self.brightness * 255.0, seed=seeds[2])
        if self.contrast:
            image = tf.image.stateless_random_contrast(image, 1 - self.contrast, 1 + self.contrast, seed=seeds[3])
        return tf.clip_by_value(image, 0.0, 255.0)


class Pipeline:
    """A replayable input pipeline: the same epoch always yields the same batches.

    Args:
        elements: Unbatched ``(inputs, targets)`` dataset before augmentation (cached).
        size: Number of elements.
        batch_size: Batch size.
        fingerprint: Hash of the data and its decoding, used as a cache key.
        shuffle: Shuffle every epoch (with a seed derived from ``seed`` and the epoch).
        seed: Seed of shuffling and augmentation.
        augment: Augmentation of image inputs, or None.
        preprocess: Function applied to each input batch, or None.
        class_names: Class names in label order, when known.
        skipped_files: Files left out as unreadable, ``[{"path", "reason"}]``.
    """

    def __init__(self, elements, size: int, batch_size: int, fingerprint: str, *, shuffle: bool = True, seed: int = 0,
                 augment: Augment | None = None, preprocess: Callable | None = None,
                 class_names: Sequence[str] = (), skipped_files: Sequence[dict[str, str]] = ()):
        self.elements = elements
        self.size = size
        self.batch_size = batch_size
        self.fingerprint = fingerprint
        self.shuffle = shuffle
        self.seed = seed
        self.augment = augment
        self.preprocess = preprocess
        self.class_names = tuple(class_names)
        self.skipped_files = list(skipped_files)

    @property
    def steps_per_epoch(self) -> int:
        """Number of batches in one epoch (the last one may be smaller)."""
        return -(-self.size // self.batch_size)

    def epoch(self, epoch: int, *, skip: int = 0, elements=None, augment: bool = True):
        """The batched dataset of ``epoch``, starting after ``skip`` batches.

        Args:
            epoch: Epoch number; it seeds the shuffle and the augmentation.
            skip: Batches of this epoch already done (resume).
            elements: Replacement elements in the same order (cached features).
            augment: Apply augmentation (when configured).
        """
        import tensorflow as tf

        dataset = (self.elements if elements is None else elements).enumerate()
        if self.shuffle:
            dataset = dataset.shuffle(self.size, seed=self.seed * 100_003 + epoch, reshuffle_each_iteration=False)
        if self.augment is not None and augment and elements is None:
            base = tf.constant([self.seed, epoch], tf.int64)

            def augment_one(index, element):
                inputs, targets = element
                seed = tf.stack([base[0], base[1] * 1_000_003 + index])
                return index, (self.augment.apply(tf.cast(inputs, tf.float32), seed), targets)

            dataset = dataset.map(augment_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.map(lambda index, element: element).batch(self.batch_size)
        dataset = dataset.map(self._finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if skip:
            dataset = dataset.skip(skip)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _finish(self, inputs, targets):
        import keras

        inputs = keras.tree.map_structure(_to_float, inputs)
        if self.preprocess is not None:
            inputs = self.preprocess(inputs)
        return inputs, targets

    def dataset(self):
        """A standalone dataset that reshuffles and re-augments every iteration."""
        import tensorflow as tf

        dataset = self.elements
        if self.shuffle:
            dataset = dataset.shuffle(self.size, seed=self.seed, reshuffle_each_iteration=True)
        if self.augment is not None:
            seeds = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True).batch(2)
            dataset = tf.data.Dataset.zip(dataset, seeds).map(
                lambda element, seed: (self.augment.apply(tf.cast(element[0], tf.float32), seed), element[1]),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        dataset = dataset.batch(self.batch_size).map(self._finish, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
        dataset.hub_pipeline = self
        dataset.class_names = self.class_names
        dataset.skipped_files = self.skipped_files
        return dataset


def _start_cluster() -> None:
    """Create the multi-worker strategy first when ``TF_CONFIG`` asks for one (TensorFlow requires it)."""
    from hub_core.data.cluster import cluster_strategy

    cluster_strategy()


def _to_float(tensor):
    import tensorflow as tf

    return tf.cast(tensor, tf.float32) if tensor.dtype in (tf.uint8, tf.uint16) else tensor  # pixels


def pipeline_of(data) -> Pipeline | None:
    """The replayable pipeline behind a dataset from this module, or None."""
    return getattr(data, "hub_pipeline", None)


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
    _start_cluster()
    root = pathlib.Path(path)
    if not root.is_dir():
        raise DataError(f"Image folder {root} does not exist; pass a folder with one sub-folder of images per class.")
    size, channels = _input_geometry(model, image_size, channels)
    names = list(class_names) if class_names else sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DataError(f"{root} has no class sub-folders; put the images of each class in {root}/<class name>/.")
    files, labels, skipped = _scan(root, names, size, channels, strict)
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
        pipeline = Pipeline(
            elements, len(part_files), batch_size, fingerprint, shuffle=shuffle and training, seed=seed,
            augment=Augment.coerce(augment) if training else None, preprocess=preprocess, class_names=names,
            skipped_files=skipped,
        )
        datasets.append(pipeline.dataset())
    return tuple(datasets) if validation_split else datasets[0]


def _input_geometry(model: Any, image_size, channels) -> tuple[tuple[int, int], int]:
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


def _scan(root: pathlib.Path, names: list[str], size, channels, strict: bool):
    candidates = []
    for label, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"Class folder {folder} does not exist; class_names must name sub-folders of {root}.")
        candidates += [(p, label) for p in sorted(folder.rglob("*")) if p.is_file()]
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


def _unreadable(path: pathlib.Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None when it can."""
    from PIL import Image, UnidentifiedImageError

    if path.stat().st_size == 0:
        return "empty (zero bytes)"
    try:
        with Image.open(path) as image:
            image.load()
    except UnidentifiedImageError:
        return "not an image"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"corrupt or truncated ({' '.join(str(error).split())})"
    return None


def read_image(path: str | bytes, size: Sequence[int], channels: int = 3, crop: str | None = "center"):
    """Decode one image file to uint8 ``(h, w, channels)`` as ``hub predict`` does (:func:`hub_core.vision.imaging.load_image`)."""
    from hub_core.vision import imaging

    return imaging.load_image(path.decode() if isinstance(path, bytes) else path, tuple(size), crop=crop, channels=channels)


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
        stat = os.stat(file)
        digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\0{label}\n".encode())
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


# --- arrays ----------------------------------------------------------------
def from_arrays(x: Any, y: Any = None, *, model: Any = None, batch_size: int = 32, validation_split: float | None = None,
                seed: int = 0, augment: Any = None, shuffle: bool = True, preprocess: Callable | None = None,
                class_names: Sequence[str] = ()):
    """In-memory arrays as a batched ``tf.data.Dataset`` (same features as :func:`image_folder`).

    Args:
        x: Inputs: an array, or a tuple/dict of arrays for multi-input models.
        y: Targets: an array (class ids, one-hot, multi-hot or values), a tuple/dict of arrays for
            multi-output models, or None.
        model: Accepted for symmetry with :func:`image_folder`; images are not resized here.
        batch_size: Batch size.
        validation_split: Fraction held out (random with ``seed``); returns ``(train, validation)``.
        seed: Seed of the split, the shuffle and the augmentation.
        augment: Image augmentation of ``x`` (4-D arrays only), see :class:`Augment`.
        shuffle: Shuffle the training part every epoch.
        preprocess: Optional function applied to each input batch.
        class_names: Class names in label order, saved with the model by ``hub.fine_tune``.

    Returns:
        A dataset with ``hub_pipeline`` and ``class_names`` attributes, or ``(train, validation)``.

    Raises:
        DataError: When x and y have different lengths.
    """
    import keras
    import numpy as np

    _start_cluster()
    import tensorflow as tf

    del model
    x_arrays = keras.tree.map_structure(np.asarray, x)
    y_arrays = keras.tree.map_structure(np.asarray, y) if y is not None else None
    lengths = {len(a) for a in keras.tree.flatten(x_arrays) + (keras.tree.flatten(y_arrays) if y is not None else [])}
    if len(lengths) != 1:
        raise DataError(f"Inputs and targets have different numbers of examples ({sorted(lengths)}); pass arrays of equal length.")
    count = lengths.pop()
    if validation_split:
        if not 0 < validation_split < 1:
            raise InvalidArgumentError(f"validation_split must be between 0 and 1, not {validation_split}.")
        order = np.random.default_rng(seed).permutation(count)
        held = int(round(count * validation_split))
        parts = [np.sort(order[held:]), np.sort(order[:held])]
    else:
        parts = [np.arange(count)]
    datasets = []
    for index, part in enumerate(parts):
        px = keras.tree.map_structure(lambda a: a[part], x_arrays)
        py = keras.tree.map_structure(lambda a: a[part], y_arrays) if y is not None else None
        digest = hashlib.sha256(b"arrays")
        for array in keras.tree.flatten(px) + (keras.tree.flatten(py) if py is not None else []):
            digest.update(f"{array.shape}{array.dtype}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        elements = tf.data.Dataset.from_tensor_slices((px, py) if py is not None else (px,))
        if py is None:
            elements = elements.map(lambda inputs: (inputs, ()))
        training = index == 0
        pipeline = Pipeline(
            elements, len(part), batch_size, digest.hexdigest(), shuffle=shuffle and training, seed=seed,
            augment=Augment.coerce(augment) if training else None, preprocess=preprocess, class_names=class_names,
        )
        datasets.append(pipeline.dataset())
    return tuple(datasets) if validation_split else datasets[0]
