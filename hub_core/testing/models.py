"""Model helpers for plugin tests and benchmarks (import Keras models, not Keras itself)."""

from __future__ import annotations


def randomize_statistics(model, seed: int = 0):
    """Give every BatchNorm statistic and every bias a random value, as after training; kernels keep theirs.

    Freshly initialised BatchNorm layers are the identity and biases are zero,
    which would hide a swapped or misplaced array, or an error in folding
    BatchNorm into a convolution. ``gamma`` and ``moving_variance`` become
    uniform in [0.5, 1.5]; ``beta``, ``moving_mean`` and biases normal with
    standard deviation 0.1.

    Returns:
        ``model``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    for variable in model.weights:
        leaf = variable.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, variable.shape)
        elif leaf in ("beta", "moving_mean", "bias"):
            value = rng.normal(0.0, 0.1, variable.shape)
        else:
            continue
        variable.assign(value.astype("float32"))
    return model
