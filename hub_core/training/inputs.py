"""The data of a run in every accepted form: hub_core.data datasets, tf.data datasets, arrays, pairs of them."""

from __future__ import annotations

from typing import Any

from hub_core.errors import DataError, InvalidArgumentError


def split_pair(train: Any, validation: Any) -> tuple[Any, Any]:
    """``(train, validation)``, unpacking a training set given as a ``(train, validation)`` pair.

    A pair is what ``hub.data.image_folder(..., validation_split=f)`` returns: two
    datasets, or two ``(x, y)`` array pairs.

    Raises:
        InvalidArgumentError: When a pair is given and ``validation`` too.
    """
    if not _is_pair(train):
        return train, validation
    if validation is not None:
        raise InvalidArgumentError(
            "The training data is a (train, validation) pair and validation= is given too; "
            "pass the validation set once, in the pair or as validation=."
        )
    return train[0], train[1]


def _is_pair(data: Any) -> bool:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return False
    datasets = all(hasattr(part, "element_spec") for part in data)
    arrays = all(isinstance(part, (tuple, list)) and len(part) == 2 for part in data)
    return datasets or arrays


def pipeline_or_dataset(data: Any, batch_size: int, seed: int, training: bool):
    """``(pipeline, dataset)`` for data given in any accepted form (the pipeline is None for plain datasets).

    Raises:
        DataError: For data in no accepted form.
    """
    from hub_core import data as hub_data

    pipeline = hub_data.pipeline_of(data)
    if pipeline is not None:
        return pipeline, data
    if isinstance(data, (tuple, list)) and len(data) == 2 and not hasattr(data, "element_spec"):
        dataset = hub_data.from_arrays(data[0], data[1], batch_size=batch_size, seed=seed, shuffle=training)
        return hub_data.pipeline_of(dataset), dataset
    if hasattr(data, "element_spec"):
        return None, data
    raise DataError(
        f"Training data must be a hub_core.data dataset, a batched tf.data.Dataset or (x, y) arrays, not {type(data).__name__}."
    )


def as_dataset(data: Any, *, batch_size: int, training: bool):
    """One epoch of ``data`` as a batched dataset, without augmentation."""
    pipeline, dataset = pipeline_or_dataset(data, batch_size, 0, training)
    return pipeline.epoch(0, augment=False) if pipeline is not None else dataset


def cardinality(dataset) -> int:
    """Batches in ``dataset``; a huge number when unknown or infinite."""
    count = int(dataset.cardinality())
    return count if count >= 0 else 1 << 62


def count_classes(pipeline) -> int:
    """Number of classes of integer labels (max + 1), or 0 when the targets are not class ids."""
    import numpy as np

    if pipeline is None:
        return 0
    spec = pipeline.elements.element_spec[1]
    if not hasattr(spec, "dtype") or not spec.dtype.is_integer or spec.shape.rank != 0:
        return 0
    labels = np.fromiter((int(y) for _, y in pipeline.elements.as_numpy_iterator()), dtype=np.int64)
    return int(labels.max()) + 1 if labels.size else 0


def input_shape_of(pipeline, dataset) -> tuple | None:
    """The per-example input shape, or None when it is not one fixed shape (dicts, ragged sizes)."""
    spec = (pipeline.elements.element_spec[0] if pipeline is not None else dataset.element_spec[0])
    if not hasattr(spec, "shape"):
        return None
    shape = tuple(spec.shape) if pipeline is not None else tuple(spec.shape[1:])
    return shape if shape and all(d is not None for d in shape) else None


def sample_targets(pipeline, dataset):
    """One batch of targets (numpy), used to infer the loss.

    Raises:
        DataError: When the data is empty.
    """
    source = pipeline.epoch(0, augment=False) if pipeline is not None else dataset
    for _, targets in source.take(1).as_numpy_iterator():
        return targets
    raise DataError("The training data is empty; pass at least one example.")
