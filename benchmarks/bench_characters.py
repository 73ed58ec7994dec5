"""Printed characters: images/s of the input pipeline (decode + augment) against each model's training step at 64x64.

The input is ``hub.data.image_folder`` on a ``hub.data.characters`` folder
(PNG files, 64x64): its first pass decodes every file with Pillow (parallel
``tf.data`` map) and caches the pixels, later passes augment the cached
pixels (random crop, brightness and contrast; no flips, which would turn a
character into another). The training step is ``model.train_on_batch`` of
``hanzi_2conv`` (64x64x1) and ``resnet20`` (64x64x3), built as ``hub.train``
builds them (raw pixels in, 500 classes), on one batch, after two warm-up
steps. The input keeps up when its images/s exceeds the step's.

Usage (about 3 min of the shared 2-core CPU)::

    python benchmarks/bench_characters.py
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import print_table, write_result  # noqa: E402

MODELS = {"hanzi_2conv": ("hanzi", 1), "resnet20": ("resnet", 3)}
BATCH = 64


def pipeline_rates(folder: pathlib.Path, channels: int, passes: int) -> tuple[float, float, int]:
    """``(first pass img/s, later passes img/s, images)`` of one image_folder dataset, iterated whole."""
    import hub_core as hub

    augment = hub.data.Augment(flip=False, crop=0.05, brightness=0.1, contrast=0.1)
    dataset = hub.data.image_folder(folder, image_size=(64, 64), channels=channels, batch_size=BATCH, seed=0,
                                    augment=augment)
    images = dataset.hub_pipeline.size
    rates = []
    for _ in range(1 + passes):
        started = time.perf_counter()
        for _batch in dataset:
            pass
        rates.append(images / (time.perf_counter() - started))
    return rates[0], sorted(rates[1:])[len(rates[1:]) // 2], images


def step_rate(name: str, channels: int, classes: int, steps: int) -> float:
    """Training images/s of ``name`` at 64x64: ``train_on_batch`` on one batch of ``BATCH``."""
    import numpy as np

    import hub_core as hub
    from hub_core.hub import registry
    from hub_core.vision.builder import raw_pixel_model

    plugin = registry.get_plugin(MODELS[name][0])
    variant = plugin.variant(name)
    model = raw_pixel_model(plugin, variant, functools.partial(hub.load, name, weights=None),
                            input_shape=(64, 64, channels), include_top=True, num_classes=classes)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (BATCH, 64, 64, channels)).astype("float32")
    y = rng.integers(0, classes, BATCH)
    for _ in range(2):
        model.train_on_batch(x, y)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return BATCH * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100, help="classes rendered for the pipeline (default 100)")
    parser.add_argument("--per-font", type=int, default=4)
    parser.add_argument("--passes", type=int, default=3, help="cached passes measured (median)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    args = parser.parse_args()

    import hub_core as hub

    with tempfile.TemporaryDirectory() as tmp:
        chars = hub.data.characters(tmp, classes=args.classes, per_font=args.per_font, test_per_font=1)
        pipeline_rates(chars.test, 1, 1)  # warm-up: tf.data's first dataset pays its start-up
        rows = []
        for name, (_, channels) in MODELS.items():
            first, cached, images = pipeline_rates(chars.train, channels, args.passes)
            step = step_rate(name, channels, 500, args.steps)
            rows.append({"model": name, "input": f"64x64x{channels}", "images": images,
                         "decode_img_s": round(first, 1), "cached_augment_img_s": round(cached, 1),
                         "train_step_img_s": round(step, 1), "input_over_step": round(min(first, cached) / step, 1)})
    print_table(rows)
    print("input_over_step > 1: the pipeline feeds the step faster than it trains (shared 2-core CPU, under load)")
    path = write_result("characters_pipeline", rows, batch_size=BATCH, note="shared 2-core CPU; other jobs running")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
