"""Feature cache: head-only epochs on cached backbone features vs plain ``model.fit`` through the frozen model.

Model: ``vgg16`` with the real ``hed_bsds500`` backbone weights at 32x32 and a
new 10-class classifier; data: scikit-learn's digits written as PNG files and
read by ``hub.data.image_folder`` (1,438 training images). Both runs happen
in this process on the same data with the same batch size:

* anchor: ``model.fit`` through the whole model with every backbone layer frozen;
* hub: ``hub.fine_tune(strategy="head", cache_features=True)``.

The figure is the ratio of the mean epoch time from the second epoch on
(bar: >= 5x). Writes ``benchmarks/results/bench_feature_cache.json``.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "bench_feature_cache.json"
EPOCHS = 4


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.started)

    return EpochTimer()


def main() -> None:
    import keras
    import numpy as np

    import hub_core as hub
    from hub_core.demo import write_digits
    from hub_core.training.phases import with_classifier

    folder = pathlib.Path(tempfile.mkdtemp(prefix="bench-cache-"))
    train_dir, _ = write_digits(folder)
    train = hub.data.image_folder(train_dir, image_size=(32, 32), batch_size=32, seed=0)

    def build():
        keras.utils.set_random_seed(0)
        backbone = hub.load("vgg16", weights="hed_bsds500", include_top=False, pooling="avg", input_shape=(32, 32, 3),
                            include_preprocessing=True)
        return with_classifier(backbone, 10)

    plain = build()
    for layer in plain.layers[:-1]:
        layer.trainable = False
    plain.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plain_timer = epoch_timer()
    plain.fit(train.hub_pipeline.epoch(0), epochs=EPOCHS, callbacks=[plain_timer], verbose=0)

    cached_timer = epoch_timer()
    started = time.perf_counter()
    result = hub.fine_tune(build(), train, epochs=EPOCHS, strategy="head", cache_features=True, learning_rate=1e-3,
                           callbacks=[cached_timer], verbose=0)
    total = time.perf_counter() - started

    plain_epoch = float(np.mean(plain_timer.times[1:]))
    cached_epoch = float(np.mean(cached_timer.times[1:]))
    row = {
        "images": train.hub_pipeline.size, "epochs": EPOCHS,
        "plain_fit_epoch_s": plain_timer.times, "cached_epoch_s": cached_timer.times,
        "feature_extraction_s": total - sum(cached_timer.times),
        "plain_epoch2plus_s": plain_epoch, "cached_epoch2plus_s": cached_epoch,
        "speedup": plain_epoch / cached_epoch, "bar": 5.0, "passed": plain_epoch / cached_epoch >= 5.0,
        "final_accuracy_cached": result.final.get("accuracy"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(row, indent=2))
    print(f"{'run':34} {'epoch 2+ (s)':>12}")
    print(f"{'plain model.fit, frozen backbone':34} {plain_epoch:>12.3f}")
    print(f"{'hub feature cache (head only)':34} {cached_epoch:>12.3f}")
    print(f"speedup {row['speedup']:.1f}x (bar 5x: {'ok' if row['passed'] else 'MISS'}); "
          f"one-off feature extraction {row['feature_extraction_s']:.1f} s for {row['images']} images")


if __name__ == "__main__":
    main()
