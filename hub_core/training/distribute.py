"""Distributed training: picking the strategy, building in its scope, which worker writes the run."""

from __future__ import annotations

import contextlib
from typing import Any

from hub_core._keras_compat import build_from_batch
from hub_core.data.cluster import cluster_strategy
from hub_core.errors import InvalidArgumentError


def resolve_distribution(distribution: Any):
    """None for no strategy, else a ``tf.distribute.Strategy`` (see :mod:`hub_core.training`)."""
    if distribution is None:
        return None
    if distribution != "auto":
        if not hasattr(distribution, "scope"):
            raise InvalidArgumentError(f"distribution must be 'auto', None or a tf.distribute.Strategy, not {distribution!r}.")
        return distribution
    import tensorflow as tf

    cluster = cluster_strategy()
    if cluster is not None:
        return cluster
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return None


def build_before_fit(trainer, pipeline, dataset, elements) -> None:
    """Build the model, loss, metrics and optimizer from one local batch, in the strategy's scope.

    Without a strategy, Keras on TensorFlow defers building to the first
    trace of the train step, whose variables then make ``tf.function`` trace
    it a second time; built here, each phase traces it once. Under
    ``MultiWorkerMirroredStrategy`` Keras' own build in ``fit`` would reduce a
    distributed batch across workers, which fails. Either way Keras' build is
    skipped for this model.
    """
    if pipeline is not None:
        source = pipeline.epoch(0, elements=elements and elements.get("train"), augment=False)
    else:
        source = dataset
    for batch in source.take(1):
        build_from_batch(trainer, batch)
    import tensorflow as tf

    if isinstance(trainer.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras averages each step's logs over workers along axis 0, which scalars lack
        # (tensorflow/tensorflow#72388): give the logs that axis.
        import keras

        for name in ("train_step", "test_step"):
            step = getattr(trainer, name)
            setattr(trainer, name, lambda data, step=step: {
                key: keras.ops.reshape(value, (1,)) for key, value in step(data).items()})


def is_chief(strategy) -> bool:
    """Whether this worker writes the run directory (always, without a cluster)."""
    if strategy is None:
        return True
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def scope(strategy):
    """The strategy's scope, or a no-op context without one."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
