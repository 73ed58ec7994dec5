"""Device check: ``precision="auto"`` on a GPU under Keras 3 + JAX, with vgg16.

It reports which precision ``"auto"`` resolves to on the device (bfloat16 is
expected on any GPU of compute capability 8.0 or newer), then runs vgg16
(no top, average pooling, preprocessing inside the model) fed uint8 batches
already on the device through a jitted ``stateless_call``, in float32 and in
``precision="auto"`` with the same weights, and prints images/s, the speed-up
and the cosine similarity of the pooled features. Results go to
``benchmarks/results/gpu_precision_check.json``.

It runs without TensorFlow and without installing hub_core: the repository
root is put on ``sys.path`` and ``plugins/`` is imported as ``hub_plugins``.

Run: ``KERAS_BACKEND=jax python benchmarks/gpu_precision_check.py [--batch 64] [--size 224] [--steps 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gpu_precision_check.json"


def import_repo() -> None:
    """Make ``hub_core`` and ``hub_plugins`` importable from the checkout."""
    sys.path.insert(0, str(ROOT))
    import plugins

    sys.modules.setdefault("hub_plugins", plugins)


def throughput(model, images, steps: int) -> tuple[float, object]:
    """Images/s of a jitted ``stateless_call`` on device-resident uint8 images."""
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def infer(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    out = infer(trainable, non_trainable, images).block_until_ready()
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            out = infer(trainable, non_trainable, images)
        out.block_until_ready()
        rounds.append((time.perf_counter() - start) / steps)
    return images.shape[0] / statistics.median(rounds), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    import_repo()
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np

    from hub_core import vision
    from hub_plugins.vgg16 import model as vgg

    device = jax.devices()[0]
    report = {
        "backend": keras.backend.backend(),
        "device": f"{device.platform}:{getattr(device, 'device_kind', '?')}",
        "compute_capability": getattr(device, "compute_capability", None),
        "bf16_supported": vision.bf16_supported(),
        "auto_resolves_to": vision.resolve_precision("auto"),
    }
    rng = np.random.default_rng(0)
    images = jax.device_put(jnp.asarray(rng.integers(0, 256, (args.batch, args.size, args.size, 3), dtype=np.uint8)))
    kwargs = dict(include_top=False, pooling="avg", include_preprocessing=True, input_shape=(args.size, args.size, 3))
    keras.utils.set_random_seed(0)
    fp32 = vgg.build("vgg16", **kwargs)
    auto = vgg.build("vgg16", precision="auto", **kwargs)
    auto.set_weights(fp32.get_weights())
    fp32_rate, fp32_out = throughput(fp32, images, args.steps)
    auto_rate, auto_out = throughput(auto, images, args.steps)
    a, b = np.asarray(fp32_out, "float64"), np.asarray(auto_out, "float64")
    report.update(
        batch=args.batch, size=args.size, auto_output_dtype=str(auto_out.dtype),
        auto_compute_dtype=auto.get_layer("block1_conv1").compute_dtype,
        fp32_img_s=fp32_rate, auto_img_s=auto_rate, speedup=auto_rate / fp32_rate,
        cosine=float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))),
    )
    for key, value in report.items():
        print(f"{key:20s} {value:.4g}" if isinstance(value, float) else f"{key:20s} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    out = os.environ.get("OUT")
    if out:
        pathlib.Path(out, RESULTS.name).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
