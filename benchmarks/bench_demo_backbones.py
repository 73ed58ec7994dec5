"""Which pretrained backbone ``hub demo`` should fine-tune: HED VGG16 or EfficientNet-Lite0 (issue 14).

Both are fine-tuned exactly as the demo does (:func:`hub_core.demo.fine_tune_digits`:
two phases, the same epochs, learning rates and seed) on the demo's real digits
(scikit-learn's 1,797 8x8 scans written as PNG files, 80% train / 20% held
out), and evaluated on the held-out images. Rows:

* ``vgg16`` from ``hed_bsds500`` at 32x32 (the demo until now; the anchor);
* ``efficientnet_lite0`` from ``imagenet`` at 32x32 (the same input) and at
  64x64, where its stride-32 trunk still has a 2x2 map to pool; phase 2
  unfreezes its top block (the 1x1 head convolution, as VGG16's block5 for
  vgg16) or, in the last row, also the last inverted-residual stage.

(A first run also had Lite0 at 96x96: 0.916, below 64x64's 0.925, and slower.)

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

# (model, weights, size, blocks unfrozen in phase 2)
ANCHOR = ("vgg16", "hed_bsds500", 32, 1)
CANDIDATES = (("efficientnet_lite0", "imagenet", 32, 1), ("efficientnet_lite0", "imagenet", 64, 1),
              ("efficientnet_lite0", "imagenet", 64, 2))


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
                model, weights, size, unfreeze = row
                started = time.perf_counter()
                metrics = fine_tune_digits(model, weights, size, train_dir, test_dir, epochs=args.epochs,
                                           unfreeze=unfreeze, run_dir=root / f"run-{model}-{size}-{unfreeze}-{repeat}")
                samples[row].append((time.perf_counter() - started, metrics))
                print(f"repeat {repeat + 1}: {model} {size}x{size} unfreeze {unfreeze}: accuracy {metrics['accuracy']:.3f}, "
                      f"{samples[row][-1][0]:.0f} s", flush=True)
    anchor_time = min(t for t, _ in samples[ANCHOR])
    rows = []
    for (model, weights, size, unfreeze), runs in samples.items():
        seconds = min(t for t, _ in runs)
        metrics = runs[0][1]
        rows.append({"backbone": model, "weights": weights, "size": size, "unfreeze": unfreeze, "epochs": args.epochs,
                     "held_out_accuracy": metrics["accuracy"], "held_out_loss": metrics["loss"],
                     "accuracies": [m["accuracy"] for _, m in runs], "seconds": seconds,
                     "time_vs_vgg16": seconds / anchor_time, "test_images": metrics["num_examples"]})
    print_table(rows, ["backbone", "weights", "size", "unfreeze", "epochs", "held_out_accuracy", "held_out_loss", "seconds",
                       "time_vs_vgg16"])
    path = write_result("bench_demo_backbones", rows, repeats=args.repeats,
                        note="2 shared CPU cores; times are the best of the interleaved repeats")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
