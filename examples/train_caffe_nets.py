"""Train AlexNet or GoogLeNet from scratch on real images with the shared loop (``hub.train``).

The seed notes train AlexNet on Oxford 17 flowers with tflearn. Offline, the
real labelled images at hand are scikit-learn's 1,797 handwritten digits
(8x8 grey, 10 classes): they are upscaled to ``--size`` pixels, turned into
0..255 RGB and fed to the hub model, which puts its Caffe preprocessing
inside (``include_preprocessing``) and gets a 10-class classifier.

Usage::

    python examples/train_caffe_nets.py --model alexnet --size 63 --epochs 5
    python examples/train_caffe_nets.py --model googlenet --size 64 --epochs 5 --json result.json

It prints the loss and accuracy of every epoch and, with ``--json``, writes
them with the final validation metrics.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np


def digits_rgb(size: int, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(n, size, size, 3)`` float32 0..255 RGB and integer labels.

    Args:
        size: Output height and width (bilinear upscaling of the 8x8 images).
        limit: Keep a random subset of this many images (all when None).
        seed: Seed of the subset.
    """
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images.astype("float32") * (255.0 / 16.0), digits.target.astype("int64")
    if limit is not None:
        keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
        images, labels = images[keep], labels[keep]
    resized = tf.image.resize(images[..., None], (size, size), method="bilinear").numpy()
    return np.repeat(np.clip(resized, 0.0, 255.0), 3, axis=-1), labels


def run(model: str, *, size: int, epochs: int, limit: int | None, batch_size: int, learning_rate: float,
        precision: str, verbose: int = 1) -> dict:
    """Train ``model`` from scratch on the upscaled digits; return its per-epoch history and final metrics."""
    import hub_core as hub

    x, y = digits_rgb(size, limit)
    train, validation = hub.data.from_arrays(x, y, batch_size=batch_size, validation_split=0.2, seed=0)
    result = hub.train(model, train, validation, epochs=epochs, learning_rate=learning_rate, precision=precision,
                       model_kwargs={"input_shape": (size, size, 3)}, verbose=verbose)
    return {
        "model": model,
        "size": size,
        "examples": int(len(y)),
        "history": {k: [float(v) for v in values] for k, values in result.history.items()},
        "final": {k: float(v) for k, v in result.final.items()},
        "wall_time_s": result.wall_time,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="alexnet", help="alexnet, alexnet_single_tower or googlenet")
    parser.add_argument("--size", type=int, default=63, help="input height and width (alexnet >= 63, googlenet >= 32)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only this many images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    result = run(args.model, size=args.size, epochs=args.epochs, limit=args.limit, batch_size=args.batch_size,
                 learning_rate=args.learning_rate, precision=args.precision, verbose=0)
    print(f"{'epoch':>5} {'loss':>8} {'accuracy':>9} {'val_loss':>9} {'val_accuracy':>13}")
    history = result["history"]
    for epoch in range(len(history["loss"])):
        row = [history.get(k, [float("nan")] * (epoch + 1))[epoch] for k in ("loss", "accuracy", "val_loss", "val_accuracy")]
        print(f"{epoch + 1:>5} {row[0]:>8.4f} {row[1]:>9.3f} {row[2]:>9.4f} {row[3]:>13.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
