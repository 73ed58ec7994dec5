"""Printed Chinese characters: top-1 and top-3 of hanzi_2conv and resnet20 on a font that training never saw.

Renders ``hub.data.characters`` (the 500 most frequent GB2312 level-1
characters; training fonts WenQuanYi Zen Hei, WenQuanYi Micro Hei, Noto Sans
CJK SC Regular and Bold; test font Noto Serif CJK SC Regular), trains each
model through ``hub.data.image_folder`` and ``hub.train`` (10% of the training
fonts' images held out as validation; the test font is never seen, not even
for choosing the best epoch), then evaluates the best model on the test font
with ``hub card --data ... --top-k 3`` (``RUN_DIR/evaluation.json``, the card
``RUN_DIR/README.md``). Printed characters, not handwriting: a stand-in for
CASIA-HWDB, which cannot be downloaded here.

Usage (35 min of the shared 2-core CPU under ``nice -n 19``: 6 to render, 8 and 20 to train)::

    python benchmarks/bench_characters_accuracy.py --data runs/hanzi_data --runs runs/hanzi
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import print_table, write_result  # noqa: E402

# model -> (input size, channels, epochs). resnet20 costs ~5x the two-conv net per 64x64 image on this CPU,
# so by default it reads the characters at 32x32 (its CIFAR size); --resnet-size 64 trains it at 64x64.
MODELS = {"hanzi_2conv": (64, 1, 5), "resnet20": (32, 3, 8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path("runs/hanzi_data"))
    parser.add_argument("--runs", type=pathlib.Path, default=pathlib.Path("runs/hanzi"))
    parser.add_argument("--classes", type=int, default=500)
    parser.add_argument("--per-font", type=int, default=8)
    parser.add_argument("--test-per-font", type=int, default=4)
    parser.add_argument("--resnet-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every model (default: MODELS)")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()

    import hub_core as hub
    from hub_core.publish.card import write_card
    from hub_core.saving import read_json

    started = time.perf_counter()
    chars = hub.data.characters(args.data, classes=args.classes, per_font=args.per_font,
                                test_per_font=args.test_per_font)
    render_s = time.perf_counter() - started
    rows = []
    for name in args.models:
        size, channels, epochs = MODELS[name]
        size = args.resnet_size if name == "resnet20" else size
        epochs = args.epochs or epochs
        train, validation = hub.data.image_folder(chars.train, model=name, image_size=(size, size), channels=channels,
                                                  batch_size=64, validation_split=0.1, seed=0)
        run_dir = args.runs / name
        started = time.perf_counter()
        result = hub.train(name, train, validation, epochs=epochs, learning_rate=1e-3, run_dir=run_dir, seed=0,
                           overwrite=True, verbose=0)
        train_s = time.perf_counter() - started
        write_card(run_dir, data=chars.test, top_k=3)
        evaluation = read_json(run_dir / "evaluation.json")
        rows.append({"model": name, "input": f"{size}x{size}x{channels}", "epochs": epochs,
                     "train_images": train.hub_pipeline.size, "test_images": evaluation["num_examples"],
                     "train_min": round(train_s / 60, 1), "val_accuracy": round(result.final.get("val_accuracy", 0), 4),
                     "test_top1": round(evaluation["accuracy"], 4), "test_top3": round(evaluation["top_k_accuracy"], 4),
                     "chance_top1": round(1 / len(chars.characters), 4)})
        print_table(rows)
        print(flush=True)
    print(f"train fonts: {', '.join(f.name for f in chars.train_fonts)}; test font: "
          f"{', '.join(f.name for f in chars.test_fonts)}; rendering took {render_s / 60:.1f} min")
    path = write_result("characters_accuracy", rows, classes=len(chars.characters),
                        train_fonts=[f.name for f in chars.train_fonts], test_fonts=[f.name for f in chars.test_fonts],
                        per_font=args.per_font, test_per_font=args.test_per_font, render_min=round(render_s / 60, 1),
                        note="printed characters rendered from fonts, not handwriting; shared 2-core CPU")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
