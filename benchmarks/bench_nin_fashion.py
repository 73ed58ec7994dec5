"""Network in Network (``nin_cifar``) trained through ``hub.train`` on Fashion-MNIST: test accuracy and wall time.

Data: the Debian package ``dataset-fashion-mnist`` (60,000 train / 10,000
t10k test images, 28x28 grayscale; ``apt-get install dataset-fashion-mnist``),
zero-padded to 32x32 and repeated to 3 channels, given to ``hub.train`` as
0..255 arrays: the model's declared preprocessing (``unit``, 0..1) is inside
it. Adam, cosine schedule, ``precision="auto"`` (bfloat16 where the CPU has
it). The bar is 0.90 test accuracy on the t10k set.

Usage: ``python benchmarks/bench_nin_fashion.py [--epochs N] [--train-images N]``.
Writes ``benchmarks/results/bench_nin_fashion.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_accuracy import fashion_mnist  # noqa: E402
from common import print_table, write_result  # noqa: E402

BAR = 0.90


def to_rgb32(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28, 1) uint8 -> (n, 32, 32, 3) uint8, zero-padded by 2 pixels."""
    return np.repeat(np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-images", type=int, default=None, help="use the first N training images (a smoke run)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    args = parser.parse_args()

    import hub_core as hub

    x_train, y_train, x_test, y_test = fashion_mnist()
    x_train, y_train = to_rgb32(x_train[: args.train_images]), y_train[: args.train_images]
    x_test = to_rgb32(x_test)
    train = hub.data.from_arrays(x_train, y_train, batch_size=128, seed=0)
    test = hub.data.from_arrays(x_test, y_test, batch_size=500, shuffle=False)
    started = time.time()
    result = hub.train("nin_cifar", train, test, epochs=args.epochs, learning_rate=args.learning_rate,
                       schedule="cosine", num_classes=10, precision="auto", verbose=2)
    wall = time.time() - started
    accuracy = float(hub.evaluate(result.model, test)["accuracy"])
    rows = [{"model": "nin_cifar (hub.train)", "data": f"Fashion-MNIST {len(x_train)} train / {len(x_test)} t10k",
             "epochs": args.epochs, "test_accuracy": accuracy, "bar": BAR, "ratio": accuracy / BAR,
             "passed": accuracy >= BAR, "wall_s": wall}]
    path = write_result("bench_nin_fashion", rows, precision="auto", learning_rate=args.learning_rate,
                        note="shared 2-core machine; wall time includes evaluation on the test set each epoch")
    print_table(rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
