"""Captcha: exact match and per-head accuracy of captcha_inverted10 on 2,000 images in a font training never saw.

The held-out images are ``hub.data.captcha(2000, seed=HELD_OUT_SEED)`` drawn in
WenQuanYi Micro Hei only; training uses other CJK faces (``--fonts``, default
TRAIN_FONTS) and other seeds. ``--train DIR`` first trains the net through
``hub.train`` on the generator and writes ``DIR/captcha_inverted10.weights.h5``
from the run's best model (its exact match on 1,000 other Micro Hei images,
seed VALIDATION_SEED, is the monitored metric); ``--init`` continues from
earlier weights on fresh images.

Usage::

    python benchmarks/bench_captcha.py                          # the shipped weights

The shipped ``generated`` weights are the result of these three runs, each on
fresh images (about 70 min of the shared 2-core CPU in all)::

    python benchmarks/bench_captcha.py --train runs/stage1 --run-dir runs/captcha1 --count 40000 --epochs 4 \
        --lr 2e-3 --seed 1 --fonts "Noto Sans CJK SC" "Noto Serif CJK SC" "WenQuanYi Zen Hei Regular"
    python benchmarks/bench_captcha.py --train runs/stage2 --run-dir runs/captcha2 --count 60000 --epochs 2 \
        --lr 1e-3 --seed 3 --init runs/stage1/captcha_inverted10.weights.h5
    python benchmarks/bench_captcha.py --train plugins/captcha/data --run-dir runs/captcha3 --count 75000 \
        --epochs 1 --lr 5e-4 --seed 4 --init runs/stage2/captcha_inverted10.weights.h5
"""

from __future__ import annotations

import argparse
import pathlib
import time

TRAIN_FONTS = ("Noto", "Zen Hei")  # every Noto CJK face (Sans, Serif, Mono; 5 regions; Regular, Bold) and Zen Hei
HELD_OUT_FONT = "WenQuanYi Micro Hei Regular"
HELD_OUT_SEED, VALIDATION_SEED = 1_000_003, 2
HELD_OUT = 2000


def train(out: pathlib.Path, *, count: int, epochs: int, learning_rate: float, seed: int, init: str | None,
          run_dir: pathlib.Path, fonts: list[str], dtype: str) -> dict:
    """Train through ``hub.train`` on the generator and write the best model's weights to ``out``."""
    import hub_core as hub
    from hub_core import saving
    from hub_core.files import atomic_path, sha256_file
    from hub_plugins.captcha.weights import FILE

    train_data = hub.data.captcha(count, seed=seed, fonts=fonts, batch_size=64)
    validation = hub.data.captcha(1000, seed=VALIDATION_SEED, fonts=[HELD_OUT_FONT], batch_size=100)
    started = time.perf_counter()
    result = hub.train("captcha_inverted10", train_data, validation, epochs=epochs, learning_rate=learning_rate,
                       schedule="cosine", weights=init, run_dir=run_dir, overwrite=True,
                       model_kwargs={"dropout": 0.1, "dtype": dtype}, verbose=2)
    seconds = time.perf_counter() - started
    best = saving.open_saved(result.run_dir, which="best")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / FILE) as path:
        best.save_weights(path)
    file = out / FILE
    return {"training_seconds": round(seconds, 1), "training_images": count * epochs, "epochs": epochs, "fonts": fonts,
            "seed": seed, "learning_rate": learning_rate, "init": init, "dtype": dtype,
            "best": result.best, "weights": str(file), "size": file.stat().st_size, "sha256": sha256_file(file)}


def evaluate(weights: str) -> dict:
    """Exact match and each head's accuracy on the held-out images."""
    import numpy as np

    import hub_core as hub

    model = hub.load("captcha_inverted10", weights=weights)
    data = hub.data.captcha(HELD_OUT, seed=HELD_OUT_SEED, fonts=[HELD_OUT_FONT], batch_size=100)
    predicted, truth = [], []
    for images, labels in data.as_numpy_iterator():
        predicted.append(model.predict_on_batch(images) > 0.5)
        truth.append(labels > 0.5)
    right = np.concatenate(predicted) == np.concatenate(truth)
    return {"exact_match": float(right.all(axis=1).mean()), "head_accuracy": float(right.mean()),
            "per_head": [round(float(v), 4) for v in right.mean(axis=0)], "images": HELD_OUT}


def main() -> None:
    from common import print_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=pathlib.Path, default=None, metavar="DIR", help="train first; write the weights here")
    parser.add_argument("--count", type=int, default=40_000, help="training images per epoch (default 40,000)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1, help="seed of the training images")
    parser.add_argument("--fonts", nargs="+", default=list(TRAIN_FONTS), help="training faces (name parts)")
    parser.add_argument("--init", default=None, help="initial weights (a .weights.h5 file) to continue from")
    parser.add_argument("--dtype", default="mixed_bfloat16", help="layers' dtype policy while training")
    parser.add_argument("--run-dir", type=pathlib.Path, default=pathlib.Path("runs/captcha"))
    parser.add_argument("--weights", default="default", help="weights to evaluate (default: the shipped set)")
    args = parser.parse_args()
    training = {}
    weights = args.weights
    if args.train is not None:
        training = train(args.train, count=args.count, epochs=args.epochs, learning_rate=args.lr, seed=args.seed,
                         init=args.init, run_dir=args.run_dir, fonts=args.fonts, dtype=args.dtype)
        weights = training["weights"]
    result = evaluate(weights)
    rows = [{"metric": "exact match (all 10 heads right)", "value": result["exact_match"]},
            {"metric": "head accuracy (mean of 10)", "value": result["head_accuracy"]},
            *({"metric": f"head {i} accuracy", "value": v} for i, v in enumerate(result["per_head"]))]
    print(f"captcha_inverted10 on {HELD_OUT} images in {HELD_OUT_FONT} (a face training never saw), weights {weights}")
    print_table(rows, ["metric", "value"])
    if training:
        print(f"training: {training['training_images']:,} images in {training['training_seconds']:.0f} s on this CPU; "
              f"{training['weights']}: {training['size']:,} bytes, sha256 {training['sha256']}")
    path = write_result("bench_captcha", rows, held_out_font=HELD_OUT_FONT,
                        weights=str(weights), training=training, target_exact_match=0.95, **result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
