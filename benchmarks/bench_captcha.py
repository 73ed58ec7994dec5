"""Captcha: exact match and per-head accuracy of captcha_inverted10 on 2,000 images in a font training never saw.

The held-out images are ``hub.data.captcha(2000, seed=HELD_OUT_SEED)`` drawn in
WenQuanYi Micro Hei only; training uses other CJK faces (``--fonts``, default
TRAIN_FONTS) and other seeds. ``--train DIR`` first trains the net through
``hub.train`` on the generator and writes ``DIR/captcha_inverted10.weights.h5``
from the run's best model: its exact match on 1,000 validation images in the
training faces (seed VALIDATION_SEED, which no training run uses) is the
monitored metric, so that Micro Hei is touched by the final held-out test
alone. ``--init`` continues from earlier weights on fresh images,
``--face-augment`` varies each glyph's stroke width, scale, aspect and shear.

Usage::

    python benchmarks/bench_captcha.py                          # the shipped weights

The shipped ``generated`` weights continue the previous release's (in git at
commit 764663e, whose docstring here gives the commands that trained them: the
first release's net widened, 26 min) with ``--face-augment`` in TRAIN_FONTS,
which with ``fonts-noto-cjk-extra`` are 80 Noto CJK faces and Zen Hei's three:
40,000 images x 3 epochs (26 min), then 40,000 x 2 at a lower rate (22 min)::

    mkdir -p runs && git show 764663e:plugins/captcha/data/captcha_inverted10.weights.h5 > runs/previous.weights.h5
    python benchmarks/bench_captcha.py --train runs/face_aug --run-dir runs/captcha_face \
        --init runs/previous.weights.h5 --face-augment --count 40000 --epochs 3 --lr 6e-4 --seed 31
    python benchmarks/bench_captcha.py --train plugins/captcha/data --run-dir runs/captcha_face2 \
        --init runs/face_aug/captcha_inverted10.weights.h5 --face-augment --count 40000 --epochs 2 --lr 3e-4 --seed 41

Each ``--train`` also evaluates its weights on the held-out images; the choice
between weights is made with ``--validation`` instead.
"""

from __future__ import annotations

import argparse
import pathlib
import time

TRAIN_FONTS = ("Noto", "Zen Hei")  # every Noto CJK face (Sans, Serif, Mono; 5 regions; all weights installed), Zen Hei
HELD_OUT_FONT = "WenQuanYi Micro Hei Regular"
HELD_OUT_SEED, VALIDATION_SEED = 1_000_003, 2
HELD_OUT = 2000


NOISE = 0.003  # of a kernel's spread, added to the widened kernels
FIRST_RELEASE = {"filters": (8, 16, 32), "cell_features": 64, "context": False}  # the net of hub-core's first weights


def widen(old_weights: str, out: pathlib.Path, fonts: list[str], seed: int = 0) -> pathlib.Path:
    """Grow weights of the first release's net into today's wider one, computing the same function (Net2WiderNet).

    Each new unit copies a random old one (with a little noise, so that copies can part); the layer after it
    divides the copied input's weights by the number of copies, and ``context`` starts at zero (Chen et al.,
    2016, "Net2Net: accelerating learning via knowledge transfer"). Writes and returns the ``.weights.h5`` file
    ``out``.
    """
    import numpy as np

    import hub_core as hub
    from hub_core.files import atomic_path
    from hub_plugins.captcha.model import build_captcha_net

    rng = np.random.default_rng(seed)
    old, new = build_captcha_net(**FIRST_RELEASE), build_captcha_net()
    old.load_weights(old_weights)

    def copies(layer: str, width: int):
        had = old.get_layer(layer).get_weights()[0].shape[-1]
        units = np.concatenate([np.arange(had), rng.integers(0, had, width - had)])
        return units, np.bincount(units, minlength=had)[units]

    def noisy(kernel):
        return kernel + rng.normal(0, NOISE * kernel.std(), kernel.shape).astype(kernel.dtype)

    units, counts = np.arange(3), np.ones(3)  # the input's RGB channels
    for conv in ("conv1", "conv2", "conv3", "cells"):
        kernel, *bias = old.get_layer(conv).get_weights()
        out_units, out_counts = copies(conv, new.get_layer(conv).get_weights()[0].shape[-1])
        kernel = kernel[:, :, units, :][..., out_units] / counts[:, None]
        new.get_layer(conv).set_weights([noisy(kernel), *(b[out_units] for b in bias)])
        norm = conv + "_bn"
        new.get_layer(norm).set_weights([w[out_units] for w in old.get_layer(norm).get_weights()])
        units, counts = out_units, out_counts
    kernel, bias = old.get_layer("heads").get_weights()
    new.get_layer("heads").set_weights([kernel[:, units, :] / counts[None, :, None], bias])
    new.get_layer("context").set_weights([np.zeros_like(w) for w in new.get_layer("context").get_weights()])
    images, labels = next(hub.data.captcha(256, seed=VALIDATION_SEED, fonts=fonts, batch_size=256).as_numpy_iterator())
    agree = [float(((model.predict_on_batch(images) > 0.5) == labels).mean()) for model in (old, new)]
    print(f"widened {old_weights} ({old.count_params():,} parameters) to {new.count_params():,}; head accuracy "
          f"on 256 validation images {agree[0]:.4f} before, {agree[1]:.4f} after")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as path:
        new.save_weights(path)
    return out


def training_faces(fonts: list[str]) -> list:
    """The installed faces named by ``fonts``, none from the held-out face's font file (Micro Hei Mono is in it)."""
    from hub_core.data.fonts import find_fonts

    held_out = {font.path for font in find_fonts(HELD_OUT_FONT)}
    shared = sorted(font.name for font in find_fonts(fonts) if font.path in held_out)
    if shared:
        raise SystemExit(f"training faces {', '.join(shared)} share the held-out face's font file; pick others")
    return find_fonts(fonts)


def train(out: pathlib.Path, *, count: int, epochs: int, learning_rate: float, seed: int, init: str | None,
          run_dir: pathlib.Path, fonts: list[str], dtype: str, face_augment: bool, overwrite: bool) -> dict:
    """Train through ``hub.train`` on the generator and write the best model's weights to ``out``.

    The best epoch is chosen on validation images in the training faces, never in the held-out one.
    """
    import hub_core as hub
    from hub_core import saving
    from hub_core.files import atomic_path, sha256_file
    from hub_plugins.captcha.weights import FILE

    if seed in (VALIDATION_SEED, HELD_OUT_SEED):
        raise SystemExit(f"--seed {seed} is the validation or held-out seed; pick another")
    faces = training_faces(fonts)
    train_data = hub.data.captcha(count, seed=seed, fonts=faces, face_augment=face_augment, batch_size=64)
    validation = hub.data.captcha(1000, seed=VALIDATION_SEED, fonts=faces, batch_size=100)
    started = time.perf_counter()
    result = hub.train("captcha_inverted10", train_data, validation, epochs=epochs, learning_rate=learning_rate,
                       schedule="cosine", weights=init, run_dir=run_dir, overwrite=overwrite, checkpoint_every=200,
                       model_kwargs={"dropout": 0.1, "dtype": dtype, "both_ways": False}, verbose=2)  # twice as fast
    seconds = time.perf_counter() - started
    best = saving.open_saved(result.run_dir, which="best")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / FILE) as path:
        best.save_weights(path)
    file = out / FILE
    return {"training_seconds": round(seconds, 1), "training_images": count * epochs, "epochs": epochs, "fonts": fonts,
            "faces": len(faces), "face_augment": face_augment, "validation": "1,000 images in the training faces",
            "seed": seed, "learning_rate": learning_rate, "init": init, "dtype": dtype,
            "best": result.best, "weights": str(file), "size": file.stat().st_size, "sha256": sha256_file(file)}


def evaluate(weights: str, fonts: list | None = None, seed: int = HELD_OUT_SEED) -> dict:
    """Exact match and each head's accuracy on the held-out images, of the net (both ways up) and of one reading.

    With ``fonts`` and ``seed``, on those images instead (``--validation``: the training faces' validation images).
    """
    import numpy as np

    import hub_core as hub

    models = {both_ways: hub.load("captcha_inverted10", weights=weights, both_ways=both_ways)
              for both_ways in (True, False)}
    data = hub.data.captcha(HELD_OUT, seed=seed, fonts=fonts or [HELD_OUT_FONT], batch_size=100)
    predicted, truth = {True: [], False: []}, []
    for images, labels in data.as_numpy_iterator():
        for both_ways, model in models.items():
            predicted[both_ways].append(model.predict_on_batch(images) > 0.5)
        truth.append(labels > 0.5)
    right, once = (np.concatenate(predicted[both_ways]) == np.concatenate(truth) for both_ways in (True, False))
    return {"exact_match": float(right.all(axis=1).mean()), "head_accuracy": float(right.mean()),
            "per_head": [round(float(v), 4) for v in right.mean(axis=0)], "images": HELD_OUT,
            "one_reading": {"exact_match": float(once.all(axis=1).mean()), "head_accuracy": float(once.mean())}}


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
    parser.add_argument("--widen", default=None, metavar="OLD", help="start from the first release's weights OLD, "
                        "widened to today's net (see widen())")
    parser.add_argument("--face-augment", action="store_true", help="vary each training glyph's stroke width, scale, "
                        "aspect and shear")
    parser.add_argument("--dtype", default="mixed_bfloat16", help="layers' dtype policy while training")
    parser.add_argument("--overwrite", action="store_true", help="move an earlier run in --run-dir aside (without "
                        "it, an interrupted run resumes from its last checkpoint)")
    parser.add_argument("--run-dir", type=pathlib.Path, default=pathlib.Path("runs/captcha"))
    parser.add_argument("--weights", default="default", help="weights to evaluate (default: the shipped set)")
    parser.add_argument("--validation", action="store_true", help="evaluate on 2,000 validation images in the "
                        "training faces (seed VALIDATION_SEED) instead, to choose between weights without Micro Hei")
    args = parser.parse_args()
    if args.validation:
        result = evaluate(args.weights, training_faces(args.fonts), seed=VALIDATION_SEED)
        print(f"{args.weights} on {HELD_OUT} validation images in the training faces: exact match "
              f"{result['exact_match']:.4f} (read once: {result['one_reading']['exact_match']:.4f}), head accuracy "
              f"{result['head_accuracy']:.4f}")
        return
    training = {}
    weights = args.weights
    if args.train is not None:
        if args.widen:
            args.init = str(widen(args.widen, args.run_dir.with_name(args.run_dir.name + ".widened.weights.h5"),
                                  args.fonts, seed=args.seed))
        training = train(args.train, count=args.count, epochs=args.epochs, learning_rate=args.lr, seed=args.seed,
                         init=args.init, run_dir=args.run_dir, fonts=args.fonts, dtype=args.dtype,
                         face_augment=args.face_augment, overwrite=args.overwrite)
        weights = training["weights"]
    result = evaluate(weights)
    rows = [{"metric": "exact match (all 10 heads right)", "value": result["exact_match"]},
            {"metric": "head accuracy (mean of 10)", "value": result["head_accuracy"]},
            {"metric": "exact match, the row read once (both_ways=False)", "value": result["one_reading"]["exact_match"]},
            {"metric": "head accuracy, read once", "value": result["one_reading"]["head_accuracy"]},
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
