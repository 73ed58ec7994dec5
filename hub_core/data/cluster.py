"""The multi-worker strategy, which TensorFlow needs before any other TensorFlow work.

It lives with the data pipelines because they are the first TensorFlow code a
training program runs; :mod:`hub_core.training` uses the same instance.
"""

from __future__ import annotations

import functools
import json
import os


@functools.lru_cache(maxsize=None)
def cluster_strategy():
    """The program's ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers, else None.

    TensorFlow requires it to be created before any other TensorFlow work,
    so every pipeline of :mod:`hub_core.data` calls this before it builds
    anything, and the training loop uses the same instance.
    """
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = sum(len(v) for k, v in config.get("cluster", {}).items() if k in ("chief", "worker"))
    if workers < 2:
        return None
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()
