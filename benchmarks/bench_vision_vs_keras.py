"""Image families against ``keras.applications``: build time, fp32 and ``precision="auto"`` throughput.

Targets (issue 3), each measured in one process against the anchor with the
same weights and batch: fp32 inference throughput >= 1.0x keras.applications;
``precision="auto"`` throughput (>= 1.8x for resnet50) with pooled-feature
cosine similarity >= 0.999 against fp32; build time with ``weights=None``
<= 1.1x.

``precision="auto"`` folds each BatchNormalization into the convolution
before it (inference only); the anchor's BatchNorm statistics are set away
from the identity so the cosine shows any folding error. keras.applications'
own model under ``mixed_bfloat16`` is timed alongside for context.

Run: ``python benchmarks/bench_vision_vs_keras.py [--models vgg16 resnet50 ...] [--batch 8] [--repeats 3]``
"""

from __future__ import annotations

import argparse

import numpy as np

from common import interleaved_times, print_table, write_result

# hub model: (keras.applications constructor, its preprocessing module, default size)
ANCHORS = {
    "vgg16": ("VGG16", "vgg16", 224),
    "vgg19": ("VGG19", "vgg19", 224),
    "resnet50": ("ResNet50", "resnet50", 224),
    "resnet101": ("ResNet101", "resnet", 224),
    "inception_resnet_v2": ("InceptionResNetV2", "inception_resnet_v2", 299),
}


def photos(size: int, batch: int) -> np.ndarray:
    """A batch of real photos (foolbox's ImageNet samples), 0..255 float32."""
    import importlib.util
    import pathlib

    from hub_core.vision import imaging

    folder = pathlib.Path(next(iter(importlib.util.find_spec("foolbox").submodule_search_locations))) / "data"
    files = sorted(folder.glob("imagenet_*.jpg"))
    return imaging.load_images([files[i % len(files)] for i in range(batch)], size, crop="center").astype("float32")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of matching rows."""
    a, b = a.reshape(len(a), -1).astype("float64"), b.reshape(len(b), -1).astype("float64")
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def bench(name: str, batch: int, repeats: int) -> list[dict]:
    import keras

    import hub_core as hub
    from hub_core import testing

    constructor_name, module_name, size = ANCHORS[name]
    constructor = getattr(keras.applications, constructor_name)
    preprocess = getattr(keras.applications, module_name).preprocess_input
    keras.utils.set_random_seed(0)

    build = interleaved_times(
        {"hub": lambda: hub.load(name, weights=None), "keras": lambda: constructor(weights=None)},
        repeats=max(repeats, 7), warmup=1, stat=min,
    )
    options = dict(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))
    anchor = testing.randomize_statistics(constructor(**options))  # BN away from the identity
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    anchor_bf16 = constructor(**options)
    keras.config.set_dtype_policy(previous_policy)
    fp32 = hub.load(name, **options)
    auto = hub.load(name, **options, precision="auto")
    for model in (anchor_bf16, fp32, auto):
        model.set_weights(anchor.get_weights())
    x = preprocess(photos(size, batch))
    times = interleaved_times(
        {"keras": lambda: anchor.predict_on_batch(x), "fp32": lambda: fp32.predict_on_batch(x),
         "auto": lambda: auto.predict_on_batch(x), "keras_bf16": lambda: anchor_bf16.predict_on_batch(x)},
        repeats=repeats, warmup=1,
    )
    similarity = cosine(auto.predict_on_batch(x), anchor.predict_on_batch(x))
    same = float(np.max(np.abs(fp32.predict_on_batch(x) - anchor.predict_on_batch(x))))
    precision = auto.layers[1].compute_dtype
    return [
        {"model": name, "measure": "build weights=None", "hub": build["hub"], "keras": build["keras"],
         "ratio": build["hub"] / build["keras"], "target": "<= 1.1", "unit": "s (best of 7)"},
        {"model": name, "measure": f"fp32 inference img/s (batch {batch}, {size}px)", "hub": batch / times["fp32"],
         "keras": batch / times["keras"], "ratio": times["keras"] / times["fp32"], "target": ">= 1.0",
         "unit": f"img/s, max|diff| {same:.2g}"},
        {"model": name, "measure": f"auto ({precision}) inference img/s", "hub": batch / times["auto"],
         "keras": batch / times["keras"], "ratio": times["keras"] / times["auto"],
         "target": ">= 1.8 (resnet50)", "unit": f"img/s, cosine {similarity:.5f}"},
        {"model": name, "measure": "keras mixed_bfloat16 img/s (context)", "hub": batch / times["auto"],
         "keras": batch / times["keras_bf16"], "ratio": times["keras_bf16"] / times["auto"],
         "target": "-", "unit": "hub auto vs keras' own bf16"},
    ]



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50", "inception_resnet_v2"], choices=sorted(ANCHORS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = [row for name in args.models for row in bench(name, args.batch, args.repeats)]
    print_table(rows, ["model", "measure", "hub", "keras", "ratio", "target", "unit"])
    print(f"wrote {write_result('vision_vs_keras', rows, batch=args.batch, repeats=args.repeats)}")


if __name__ == "__main__":
    main()
