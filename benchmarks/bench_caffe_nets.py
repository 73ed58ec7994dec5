"""AlexNet and GoogLeNet inference throughput on this CPU, fp32 and ``precision="auto"``, against the roofline.

The anchor, measured in the same process, is the machine's matmul peak: a
large square matmul in float32 and in bfloat16 (the compute type
``precision="auto"`` picks on a CPU with AVX512_BF16). Each model's rate is
reported as images/s and as the fraction of that peak its multiply-adds
reach (AlexNet is about 0.72 GMACs per image, GoogLeNet about 1.5; the exact
counts are computed from the built layers). The ``auto`` model gets the fp32
model's weights, and the cosine similarity of their logits is reported too.

Run: ``python benchmarks/bench_caffe_nets.py [--batch 16] [--repeats 5] [--matmul 2048]``
"""

from __future__ import annotations

import argparse

import numpy as np

from bench_vision_vs_keras import cosine, photos
from common import interleaved_times, print_table, write_result

MODELS = {"alexnet": 0.72, "googlenet": 1.5}  # nominal GMACs per image


def peak_gflops(n: int, repeats: int) -> dict[str, float]:
    """GFLOP/s of an ``n x n`` matmul in float32 and bfloat16 (median of ``repeats``)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rates = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.constant(rng.normal(size=(n, n)), dtype=dtype)
        b = tf.constant(rng.normal(size=(n, n)), dtype=dtype)
        matmul = tf.function(lambda: tf.linalg.matmul(a, b))
        seconds = interleaved_times({dtype: lambda: matmul().numpy()}, repeats=repeats, warmup=2)[dtype]
        rates[dtype] = 2 * n**3 / seconds / 1e9
    return rates


def macs_per_image(model) -> int:
    """Multiply-adds of the Conv2D and Dense layers of ``model`` for one image."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin_per_group, _ = layer.kernel.shape
            _, oh, ow, cout = layer.output.shape
            total += oh * ow * cout * kh * kw * cin_per_group
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def bench(name: str, batch: int, repeats: int, peak: dict[str, float]) -> list[dict]:
    import keras

    import hub_core as hub

    keras.utils.set_random_seed(0)
    fp32 = hub.load(name, weights=None, classifier_activation=None, include_preprocessing=True)
    auto = hub.load(name, weights=None, classifier_activation=None, include_preprocessing=True, precision="auto")
    auto.set_weights(fp32.get_weights())
    resolved = hub.vision.resolve_precision("auto")
    x = photos(fp32.input_shape[1], batch)
    times = interleaved_times(
        {"float32": lambda: fp32.predict_on_batch(x), "auto": lambda: auto.predict_on_batch(x)}, repeats=repeats, warmup=2
    )
    similarity = cosine(np.asarray(fp32.predict_on_batch(x)), np.asarray(auto.predict_on_batch(x)))
    macs = macs_per_image(fp32)
    rows = []
    for precision, compute in (("float32", "float32"), ("auto", resolved)):
        rate = batch / times[precision]
        rows.append({
            "model": name,
            "precision": precision if precision == compute else f"{precision} ({compute})",
            "batch": batch,
            "images_per_s": rate,
            "gmacs_per_image": macs / 1e9,
            "nominal_gmacs": MODELS[name],
            "gflops": 2 * macs * rate / 1e9,
            "peak_gflops": peak[compute],
            "roofline_fraction": 2 * macs * rate / 1e9 / peak[compute],
            "speedup_vs_fp32": times["float32"] / times[precision],
            "cosine_vs_fp32": similarity if precision == "auto" else 1.0,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--matmul", type=int, default=2048, help="size of the square matmul that measures the peak")
    args = parser.parse_args()
    peak = peak_gflops(args.matmul, args.repeats)
    print(f"matmul {args.matmul}^3 peak: float32 {peak['float32']:.1f} GFLOP/s, bfloat16 {peak['bfloat16']:.1f} GFLOP/s")
    rows = [row for name in args.models for row in bench(name, args.batch, args.repeats, peak)]
    print_table(rows, ["model", "precision", "batch", "images_per_s", "gmacs_per_image", "gflops", "peak_gflops",
                       "roofline_fraction", "speedup_vs_fp32", "cosine_vs_fp32"])
    path = write_result("caffe_nets", rows, peak_gflops=peak, matmul_size=args.matmul)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
