"""In-memory arrays as replayable, batched ``tf.data`` datasets."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

from hub_core.data.cluster import cluster_strategy
from hub_core.data.pipeline import Augment, Pipeline
from hub_core.errors import DataError, InvalidArgumentError


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

    cluster_strategy()  # TensorFlow needs a multi-worker strategy before anything else
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
