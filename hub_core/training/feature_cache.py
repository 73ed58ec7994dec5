"""The feature cache: a frozen backbone's outputs computed once, the head trained on them.

The cache is kept on disk, under ``RUN_DIR/feature_cache/`` or the folder of
``feature_cache_dir=`` (which runs can share: a sweep's trials share
``SWEEP_DIR/feature_cache``), one file per key: the backbone weights' hash, the
data fingerprint, the preprocessing and the backbone's layer graph. Each file is computed once
under a lock and written atomically, so processes sharing the folder neither
read half a file nor compute the same features twice at the same time.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
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


def cache_folder(feature_cache_dir: str | os.PathLike | None, run_dir) -> pathlib.Path | None:
    """Where features are cached: ``feature_cache_dir``, else ``RUN_DIR/feature_cache``, else nowhere (memory)."""
    if feature_cache_dir is not None:
        return pathlib.Path(feature_cache_dir)
    return run_dir / CACHE_DIR if run_dir is not None else None


def backbone_features(model, features_at, pipes: dict[str, Any], folder: pathlib.Path | None, verbose: int) -> dict[str, Any]:
    """``{part: dataset of (features, targets)}`` for each pipeline of ``pipes`` (``"train"``, ``"validation"``).

    Args:
        model: The whole model.
        features_at: The tensor the head starts from.
        pipes: ``{part: pipeline or None}``.
        folder: The disk cache (see :func:`cache_folder`), or None.
        verbose: Keras' progress bar of the backbone pass.
    """
    import keras

    backbone = keras.Model(model.inputs, features_at)
    # the variables without their paths, the graph without its names: Keras numbers unnamed layers per process
    model_key = f"{saving.weights_hash(backbone.weights, paths=False)}:{_architecture(backbone)}"
    result = {}
    for part, pipe in pipes.items():
        if pipe is None:
            continue
        key = hashlib.sha256(f"{model_key}:{pipe.fingerprint}:{describe(pipe.preprocess)}".encode()).hexdigest()[:24]
        result[part] = _cached_features(backbone, pipe, folder / f"{key}.npz" if folder is not None else None, verbose)
    return result


def _architecture(backbone) -> str:
    """Hex sha256 of the backbone's config, each layer's name replaced by its position (stable across builds)."""
    import json

    names = {layer.name: f"#{index}" for index, layer in enumerate(backbone.layers)}

    def renamed(value):
        if isinstance(value, dict):
            return {k: renamed(v) for k, v in value.items() if k != "name" or value is not config}
        if isinstance(value, (list, tuple)):
            return [renamed(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    try:
        config = backbone.get_config()
    except NotImplementedError:  # a custom layer without get_config: its numbered names, no sharing across builds
        return hashlib.sha256(repr([(type(layer).__name__, layer.name) for layer in backbone.layers]).encode()).hexdigest()
    return hashlib.sha256(json.dumps(renamed(config), sort_keys=True, default=str).encode()).hexdigest()


def _cached_features(backbone, pipeline, file: pathlib.Path | None, verbose: int):
    """Backbone outputs of ``pipeline``'s elements (in order) as a dataset, read from ``file`` or written to it."""
    import contextlib

    import keras
    import tensorflow as tf
    from filelock import FileLock

    lock = contextlib.nullcontext()
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(file.with_suffix(".lock")))
    with lock:  # another process computing the same file: wait, then read it
        if file is not None and file.exists():
            features, targets = _read(file)
        else:
            features, targets = _compute(backbone, pipeline, verbose)
            if file is not None:
                import numpy as np

                with atomic_path(file) as tmp:
                    with open(tmp, "wb") as handle:
                        np.savez(handle, features=features, **{f"t{i}": t for i, t in enumerate(targets)})
    structure = pipeline.elements.element_spec[1]
    packed = keras.tree.pack_sequence_as(structure, targets)
    return tf.data.Dataset.from_tensor_slices((features, packed))


def _read(file: pathlib.Path):
    import numpy as np

    with np.load(file) as archive:
        return archive["features"], [archive[f"t{i}"] for i in range(len(archive.files) - 1)]


def _compute(backbone, pipeline, verbose: int):
    import keras
    import numpy as np

    inputs = pipeline.elements.batch(256).map(pipeline.finish_batch)
    features = backbone.predict(inputs.map(lambda x, y: x), verbose=verbose)
    batches = [y for _, y in pipeline.elements.batch(4096).as_numpy_iterator()]
    targets = [np.concatenate([keras.tree.flatten(b)[i] for b in batches]) for i in range(len(keras.tree.flatten(batches[0])))]
    return features, targets
