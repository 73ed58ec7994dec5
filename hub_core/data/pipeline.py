"""Replayable input pipelines: the same epoch always yields the same batches.

A :class:`Pipeline` holds the unbatched elements of a data set (decoded once
and cached) and builds the batched ``tf.data.Dataset`` of any epoch from them,
shuffled and augmented with seeds derived from the epoch. The datasets that
:mod:`hub_core.data` returns carry their pipeline (``dataset.hub_pipeline``),
which is what makes resume-after-crash and the feature cache exact.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from hub_core.errors import InvalidArgumentError


@dataclasses.dataclass(frozen=True)
class Augment:
    """Random augmentation of training images, as in the notes.

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
        source: Where the elements come from, as JSON-able fields (an image folder's ``folder`` and its
            ``part`` of a validation split), recorded in a run's ``run.json``; None when unknown.
    """

    def __init__(self, elements, size: int, batch_size: int, fingerprint: str, *, shuffle: bool = True, seed: int = 0,
                 augment: Augment | None = None, preprocess: Callable | None = None,
                 class_names: Sequence[str] = (), skipped_files: Sequence[dict[str, str]] = (),
                 source: dict[str, Any] | None = None):
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
        self.source = dict(source or {})

    def record(self) -> dict[str, Any]:
        """What a run records of this data: ``examples``, ``fingerprint`` and the :attr:`source` fields."""
        return {"examples": self.size, "fingerprint": self.fingerprint, **self.source}

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
        dataset = dataset.map(self.finish_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if skip:
            dataset = dataset.skip(skip)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def finish_batch(self, inputs, targets):
        """A batch as the model takes it: uint8/uint16 pixels as float32, then ``preprocess`` (when given)."""
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
        dataset = dataset.batch(self.batch_size).map(self.finish_batch, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
        dataset.hub_pipeline = self
        dataset.class_names = self.class_names
        dataset.skipped_files = self.skipped_files
        return dataset


def _to_float(tensor):
    import tensorflow as tf

    return tf.cast(tensor, tf.float32) if tensor.dtype in (tf.uint8, tf.uint16) else tensor  # pixels


def pipeline_of(data) -> Pipeline | None:
    """The replayable pipeline behind a dataset from this module, or None."""
    return getattr(data, "hub_pipeline", None)
