"""Which floating-point precision image models run in: ``resolve_precision`` and ``bf16_supported``."""

from __future__ import annotations

import functools

from hub_core.errors import InvalidArgumentError

PRECISIONS = ("auto", "float32", "bfloat16")


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _gpu_bf16() -> bool | None:
    """Whether the backend's GPU runs bfloat16 fast (compute capability >= 8.0); None without a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        capabilities = [tuple(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0))) for g in gpus]
        return any(c >= (8, 0) for c in capabilities) if gpus else None
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return any(float(getattr(d, "compute_capability", 0) or 0) >= 8.0 for d in gpus) if gpus else None
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_bf16_supported()) if torch.cuda.is_available() else None
    return None


@functools.lru_cache(maxsize=1)
def bf16_supported() -> bool:
    """Whether bfloat16 runs fast where models run: the GPU if there is one, else a CPU with AVX512_BF16/AMX."""
    gpu = _gpu_bf16()
    if gpu is not None:
        return gpu
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str) -> str:
    """Map ``"auto" | "float32" | "bfloat16"`` to the concrete precision.

    Raises:
        InvalidArgumentError: For any other value.
    """
    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "auto":
        return "bfloat16" if bf16_supported() else "float32"
    return precision
