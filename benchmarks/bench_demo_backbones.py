"""Which pretrained backbone ``hub demo`` should fine-tune: HED VGG16 or EfficientNet-Lite0 (issue 14).

Both are fine-tuned exactly as the demo does (:func:`hub_core.demo.fine_tune_digits`:
two phases, the same epochs, learning rates and seed) on the demo's real digits
(scikit-learn's 1,797 8x8 scans written as PNG files, 80% train / 20% held
out), and evaluated on the held-out images. Rows:

* ``vgg16`` from ``hed_bsds500`` at 32x32 (the demo until now; the anchor);
* ``efficientnet_lite0`` from ``imagenet`` at 32x32 (the same input) and at
  larger sizes, where its stride-32 trunk still has a spatial map to pool.

The runs are interleaved (anchor, candidates, anchor, candidates...) so the
shared machine's load falls on all of them; each row reports the best of its
repeats' times and the held-out accuracy (deterministic for a seed).

Usage: ``python benchmarks/bench_demo_backbones.py [--epochs 6] [--repeats 2]``.
Writes ``benchmarks/results/bench_demo_backbones.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import print_table, write_result  # noqa: E402

ANCHOR = ("vgg16", "hed_bsds500", 32)
CANDIDATES = (("efficientnet_lite0", "imagenet", 32), ("efficientnet_lite0", "imagenet", 64),
              ("efficientnet_lite0", "imagenet", 96))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (the demo's default: 6)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of every row")
    args = parser.parse_args()

    from hub_core.demo import fine_tune_digits, write_digits

    with tempfile.TemporaryDirectory() as folder:
        root = pathlib.Path(folder)
        train_dir, test_dir = write_digits(root / "digits")
        samples: dict[tuple, list[tuple[float, dict]]] = {row: [] for row in (ANCHOR, *CANDIDATES)}
        for repeat in range(args.repeats):
            for row in samples:
                model, weights, size = row
                started = time.perf_counter()
                metrics = fine_tune_digits(model, weights, size, train_dir, test_dir, epochs=args.epochs,
                                           run_dir=root / f"run-{model}-{size}-{repeat}")
                samples[row].append((time.perf_counter() - started, metrics))
                print(f"repeat {repeat + 1}: {model} {size}x{size}: accuracy {metrics['accuracy']:.3f}, "
                      f"{samples[row][-1][0]:.0f} s", flush=True)
    anchor_time = min(t for t, _ in samples[ANCHOR])
    rows = []
    for (model, weights, size), runs in samples.items():
        seconds = min(t for t, _ in runs)
        metrics = runs[0][1]
        rows.append({"backbone": model, "weights": weights, "size": size, "epochs": args.epochs,
                     "held_out_accuracy": metrics["accuracy"], "held_out_loss": metrics["loss"],
                     "accuracies": [m["accuracy"] for _, m in runs], "seconds": seconds,
                     "time_vs_vgg16": seconds / anchor_time, "test_images": metrics["num_examples"]})
    print_table(rows, ["backbone", "weights", "size", "epochs", "held_out_accuracy", "held_out_loss", "seconds",
                       "time_vs_vgg16"])
    path = write_result("bench_demo_backbones", rows, repeats=args.repeats,
                        note="2 shared CPU cores; times are the best of the interleaved repeats")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
