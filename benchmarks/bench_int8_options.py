"""NNCF int8 options on EfficientNet-Lite0 (real weights): top-1 agreement, logit cosine and speed of each.

Every option quantizes the same float32 OpenVINO IR of EfficientNet-Lite0's logits
(preprocessing inside the model) and changes one thing from the hub's choices
(:func:`hub_core.exporting.quantize.advanced_parameters`: activations per tensor, no
overflow fix on VNNI CPUs) as they were before full bias correction, the row
``fast bias correction (64)``:

- calibration: the 64 photos and crops of ``bench_engines.calibration_folder``
  (8 photos of skimage and scikit-learn), or more crops of more packaged photos
  (every colour and grey photo of ``skimage.data``, scikit-learn's two, matplotlib's
  Grace Hopper), never the 20 test photos;
- ``ignored_scope``: the first convolution and/or the classifier's MatMul left in float;
- full bias correction (``fast_bias_correction=False``);
- activation range estimators (NNCF's ``RangeEstimatorParametersSet``);
- SmoothQuant (NNCF runs it for ``model_type=TRANSFORMER`` only, so that type);
- ``nncf.quantize_with_accuracy_control``: reverts layers to float until the top-1
  agreement with float32 on 48 other calibration crops drops by at most 0.01 (with 128 it ran
  over 20 minutes on the loaded 2-core development machine without finishing).

Columns: top-1 agreement with float32 on foolbox's 20 labelled photos, the logit cosine
mean / min on 200 crops of them (``bench_engines.foolbox_crops``), and the int8 IR's
batch-8 throughput over OpenVINO bf16's on the same float IR (interleaved, best of
``--repeats``, LATENCY hint), with the quantization time.

Run: ``python benchmarks/bench_int8_options.py [--only TEXT ...] [--repeats 7] [--out NAME]``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import logging
import os
import pathlib
import tempfile
import time

import numpy as np

from bench_engines import calibration_folder, foolbox_crops, foolbox_photos, random_crop
from common import interleaved_times, print_table, write_result

CROPS_PER_PACKAGED_PHOTO = 16
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "retina",
                  "hubble_deep_field", "camera", "coins", "moon", "page", "text", "gravel", "brick", "grass", "cell",
                  "clock")


def packaged_crops(model) -> np.ndarray:
    """Each packaged photo (none of the 20 test photos) and random crops of it, as ``hub.predict`` feeds ``model``."""
    import matplotlib.cbook
    import skimage.data
    from sklearn.datasets import load_sample_image

    from hub_core.vision import imaging

    photos = [np.asarray(getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS]
    photos += [load_sample_image("china.jpg"), load_sample_image("flower.jpg"),
               imaging.load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]
    rng = np.random.default_rng(1)
    crops = []
    for photo in map(imaging.load_image, photos):
        crops += [photo] + [random_crop(photo, rng) for _ in range(CROPS_PER_PACKAGED_PHOTO - 1)]
    return imaging.model_input_batch(crops, model)


def main(argv=None) -> int:
    import nncf
    import openvino
    from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    import hub_core as hub
    from hub_core import exporting
    from hub_core.exporting import engines, quantize
    from hub_core.vision import imaging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="run the options whose label contains one of these")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="bench_int8_options", help="results/<OUT>.json")
    args = parser.parse_args(argv)
    model = hub.load("efficientnet_lite0", precision="float32", include_preprocessing=True, classifier_activation=None)
    size = int(model.inputs[0].shape[1])
    photos = imaging.read_image_files(foolbox_photos(), model)
    crops = foolbox_crops(size)
    fp32_photos = model.predict(photos, verbose=0)
    fp32_crops = model.predict(crops, batch_size=20, verbose=0)
    core = openvino.Core()
    base = quantize.advanced_parameters(nncf)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        os.environ.setdefault("HUB_CORE_HOME", str(work / "home"))
        calibration = imaging.read_image_files(imaging.list_images(calibration_folder(work / "calibration")), model)
        packaged = packaged_crops(model)
        float_ir = work / "float.xml"
        exporting._write_openvino(model, float_ir)
        ops = list(core.read_model(str(float_ir)).get_ordered_ops())
        first_conv = next(op.get_friendly_name() for op in ops if op.get_type_name() == "Convolution")
        classifier = [op.get_friendly_name() for op in ops if op.get_type_name() == "MatMul"][-1]

        def ptq(images, advanced=base, **options):
            options.setdefault("fast_bias_correction", True)
            return nncf.quantize(core.read_model(str(float_ir)), nncf.Dataset([image[None] for image in images]),
                                 subset_size=len(images), advanced_parameters=advanced, **options)

        def accuracy_control(images, validation):
            labels = np.argmax(model.predict(validation, verbose=0), 1)

            def agreement(compiled, items):
                items = list(items)
                outputs = np.concatenate([compiled(x)[compiled.output(0)] for x, _ in items])
                return float(np.mean(np.argmax(outputs, 1) == np.array([label for _, label in items])))

            return nncf.quantize_with_accuracy_control(
                core.read_model(str(float_ir)), nncf.Dataset([image[None] for image in images]),
                nncf.Dataset([(image[None], label) for image, label in zip(validation, labels)], lambda item: item[0]),
                agreement, max_drop=0.01, subset_size=len(images), advanced_quantization_parameters=base)

        def hub_int8(images):
            quantize.write_int8_openvino(float_ir, work / "hub_int8.xml", images)
            return core.read_model(str(work / "hub_int8.xml"))

        ranges = lambda estimator: dataclasses.replace(base, activations_range_estimator_params=estimator)
        options = {
            "fast bias correction (64)": lambda: ptq(calibration),
            "fast, 128 packaged crops": lambda: ptq(packaged[::3][:128]),
            "fast, 300 packaged crops": lambda: ptq(packaged[:300]),
            "fast, ignored first conv + classifier": lambda: ptq(
                calibration, ignored_scope=nncf.IgnoredScope(names=[first_conv, classifier])),
            "fast, ignored classifier": lambda: ptq(calibration, ignored_scope=nncf.IgnoredScope(names=[classifier])),
            "fast, ignored first conv": lambda: ptq(calibration, ignored_scope=nncf.IgnoredScope(names=[first_conv])),
            "fast, range MINMAX": lambda: ptq(calibration, ranges(RangeEstimatorParametersSet.MINMAX)),
            "fast, range MEAN_QUANTILE": lambda: ptq(calibration, ranges(RangeEstimatorParametersSet.MEAN_QUANTILE)),
            "fast, range HISTOGRAM": lambda: ptq(calibration, ranges(RangeEstimatorParametersSet.HISTOGRAM)),
            "fast, SmoothQuant (transformer type)": lambda: ptq(
                calibration, dataclasses.replace(base, smooth_quant_alphas=AdvancedSmoothQuantParameters(0.5, 0.95)),
                model_type=nncf.ModelType.TRANSFORMER),
            "fast, accuracy control (48 other crops)": lambda: accuracy_control(calibration, packaged[1::3][:48]),
            "full bias correction (64): the hub's": lambda: hub_int8(calibration),
            "full, 32 of the 64": lambda: ptq(calibration[::2], fast_bias_correction=False),
            "full, 128 packaged crops": lambda: ptq(packaged[::3][:128], fast_bias_correction=False),
        }
        bf16 = engines.openvino_engine(float_ir, precision="bf16")
        batch = photos[:8]
        rows = []
        nncf.set_log_level(logging.ERROR)
        for label, make in options.items():
            if args.only and not any(text in label for text in args.only):
                continue
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars
                quantized = make()
            seconds = time.perf_counter() - start
            path = work / "int8.xml"
            openvino.save_model(quantized, str(path))
            int8 = engines.openvino_engine(path, precision="bf16")
            int8_photos = int8(photos)
            int8_crops = np.concatenate([int8(crops[i:i + 20]) for i in range(0, len(crops), 20)])
            cosines = quantize.row_cosines(int8_crops, fp32_crops)
            times = interleaved_times({"bf16": lambda: bf16(batch), "int8": lambda: int8(batch)}, args.repeats, stat=min)
            misses = [file.name for i, file in enumerate(foolbox_photos())
                      if np.argmax(int8_photos[i]) != np.argmax(fp32_photos[i])]
            rows.append({"option": label, "top1_of_20": 20 - len(misses), "cos_mean": float(np.mean(cosines)),
                         "cos_min": float(np.min(cosines)), "x_ov_bf16": times["bf16"] / times["int8"],
                         "quantize_s": seconds, "misses": " ".join(misses)})
            print_table(rows[-1:])
            write_result(args.out, rows, partial=True)
    print()
    print_table(rows)
    path = write_result(args.out, rows, repeats=args.repeats, cpu_count=os.cpu_count(),
                        note="interleaved on a shared machine: speed ratios only; best of the repeats")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
