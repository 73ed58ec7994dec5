"""The feature cache: a frozen backbone's outputs computed once, the head trained on them.

The cache is kept in memory and, with a run directory, on disk under
``RUN_DIR/feature_cache/`` keyed by the backbone weights' hash, the data
fingerprint and the preprocessing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hub_core import saving
from hub_core.errors import InvalidArgumentError
from hub_core.files import atomic_path
from hub_core.training.options import describe
from hub_core.training.phases import stochastic_layers

CACHE_DIR = "feature_cache"


def cache_allowed(wanted: Any, model, head, train_pipe, validation: Any, val_pipe, strategy) -> bool:
    """Whether the head can train on cached features (``cache_features=`` is ``wanted``).

    Raises:
        InvalidArgumentError: When ``wanted`` is True and caching would not give the same training.
    """
    if wanted is False or wanted is None:
        return False
    problems = []
    if train_pipe is None:
        problems.append("the training data is not a hub_core.data pipeline")
    elif train_pipe.augment is not None:
        problems.append("the training data is augmented")
    if validation is not None and val_pipe is None:
        problems.append("the validation data is not a hub_core.data pipeline")
    if strategy is not None:
        problems.append("training is distributed")
    stochastic = stochastic_layers(model, head)
    if stochastic:
        problems.append(f"the frozen backbone has stochastic layers ({', '.join(stochastic)})")
    if problems and wanted is True:
        raise InvalidArgumentError(f"cache_features=True is not possible: {'; '.join(problems)}.")
    return not problems


def backbone_features(model, features_at, pipes: dict[str, Any], run_dir, verbose: int) -> dict[str, Any]:
    """``{part: dataset of (features, targets)}`` for each pipeline of ``pipes`` (``"train"``, ``"validation"``)."""
    import keras

    backbone = keras.Model(model.inputs, features_at)
    weights_hash = saving.weights_hash(backbone.weights)
    result = {}
    for part, pipe in pipes.items():
        if pipe is None:
            continue
        key = hashlib.sha256(f"{weights_hash}:{pipe.fingerprint}:{describe(pipe.preprocess)}:{features_at.name}".encode()).hexdigest()[:24]
        result[part] = _cached_features(backbone, pipe, key, run_dir, verbose)
    return result


def _cached_features(backbone, pipeline, key: str, run_dir, verbose: int):
    """Backbone outputs of ``pipeline``'s elements (in order) as a dataset; disk cache under the run dir."""
    import keras
    import numpy as np
    import tensorflow as tf

    file = run_dir / CACHE_DIR / f"{key}.npz" if run_dir is not None else None
    if file is not None and file.exists():
        with np.load(file) as archive:
            features, targets = archive["features"], [archive[f"t{i}"] for i in range(len(archive.files) - 1)]
    else:
        inputs = pipeline.elements.batch(256).map(pipeline.finish_batch)
        features = backbone.predict(inputs.map(lambda x, y: x), verbose=verbose)
        batches = [y for _, y in pipeline.elements.batch(4096).as_numpy_iterator()]
        targets = [np.concatenate([keras.tree.flatten(b)[i] for b in batches]) for i in range(len(keras.tree.flatten(batches[0])))]
        if file is not None:
            with atomic_path(file) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, features=features, **{f"t{i}": t for i, t in enumerate(targets)})
    structure = pipeline.elements.element_spec[1]
    packed = keras.tree.pack_sequence_as(structure, targets)
    return tf.data.Dataset.from_tensor_slices((features, packed))
