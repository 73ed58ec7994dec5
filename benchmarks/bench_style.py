"""Style transfer quality: the shipped fast_style_lite styles against Gatys optimisation on the same objective.

Two steps, each one process on this CPU (run the first niced in the background)::

    python benchmarks/bench_style.py gatys [--steps 300] [--until HH:MM]
    python benchmarks/bench_style.py report

``gatys`` optimises each of the 5 held-out photos (:func:`held_out_photos`:
never trained on) at 512x512 against each shipped style by Gatys et al.'s method
(L-BFGS, ``--steps`` iterations) on the objective the shipped networks were trained
on (their HED VGG16 loss network, layers and content, style and TV weights:
``STYLE_WEIGHT``, which ``train_styles.py`` trains with), alternating styles, one photo
at a time, saving each result under ``benchmarks/results/style_eval/``; run it again
to go on with the photos not done yet (``train_style_device.py`` computes them on a GPU).

``report`` stylises the same photos with the shipped networks
(``hub.stylize(photo, style=NAME)``), measures the content (``relu4_2``) and style
(Gram matrices of ``relu1_1``..``relu5_1``) losses and the weighted objective of the
photo, the fast result and every finished Gatys result with one float32 loss network,
and writes the grid ``docs/images/fast_style_grid.jpg`` (content | Gatys | fast, per
style) and ``benchmarks/results/bench_style.json``. Needs the paintings
(``scripts/install-test-data.sh``). Speed: ``bench_style_speed.py``.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib.util
import json
import os
import pathlib
import sys
import time

from common import RESULTS, print_table, write_result

EVAL = RESULTS / "style_eval"
GRID = pathlib.Path(__file__).parent.parent / "docs" / "images" / "fast_style_grid.jpg"
SIZE = 512
# The objective of the shipped networks (benchmarks/train_styles.py trains with these weights), which Gatys optimises.
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 1.0, 0.5, 10.0
STYLES = ("starry_night", "the_scream")


FOOLBOX_HELD_OUT = ("imagenet_03_990.jpg", "imagenet_08_915.jpg", "imagenet_13_471.jpg", "imagenet_16_251.jpg")


def _foolbox_photos() -> list[str]:
    spec = importlib.util.find_spec("foolbox")
    if spec is None:
        return []
    return sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "data", "imagenet_*.jpg")))


def training_photos() -> list:
    """Every real photo the packages give (skimage, scikit-learn, foolbox's ImageNet samples), less the held-out ones."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
              skimage.data.hubble_deep_field(), skimage.data.retina(), skimage.data.immunohistochemistry(),
              os.path.join(os.path.dirname(skimage.data.__file__), "motorcycle_left.png"),
              load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    return photos + [path for path in _foolbox_photos() if os.path.basename(path) not in FOOLBOX_HELD_OUT]


def evaluation_photo():
    from matplotlib import cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def held_out_photos() -> list[str]:
    """The 5 evaluation photos, none of them trained on: matplotlib's Grace Hopper and 4 of foolbox's."""
    return [evaluation_photo(), *(path for path in _foolbox_photos() if os.path.basename(path) in FOOLBOX_HELD_OUT)]


def painting(style: str) -> pathlib.Path:
    """The painting of a shipped style in the test-data folder (``scripts/install-test-data.sh`` puts it there)."""
    from hub_core import config

    return config.data_dir() / {"starry_night": "starry_night.jpg", "the_scream": "scream.jpg"}[style]


def _gatys_file(style: str, index: int) -> pathlib.Path:
    return EVAL / f"gatys_{style}_sw{STYLE_WEIGHT:g}_{index}.png"


def _features(precision: str = "float32"):
    from hub_plugins.fast_style import perceptual

    return perceptual.vgg_features((*perceptual.GATYS_CONTENT_LAYERS, *perceptual.GATYS_STYLE_LAYERS), precision=precision)


def run_gatys(steps: int, until: str | None, precision: str = "float32", photos: int | None = None) -> None:
    """Gatys' optimisation of every held-out photo and style not done yet, alternating styles.

    ``precision`` is the loss network's during the optimisation only (``report`` measures in float32);
    ``photos`` limits the run to the first held-out photos.
    """
    deadline = None
    if until:
        hour, minute = (int(part) for part in until.split(":"))
        deadline = datetime.datetime.now(datetime.timezone.utc).replace(hour=hour, minute=minute, second=0).timestamp()
    features = _features(precision)
    for index, photo in enumerate(held_out_photos()[:photos]):
        for name in STYLES:
            target = _gatys_file(name, index)
            if target.exists():
                continue
            if deadline is not None and time.time() > deadline:
                return
            image, record = optimise(photo, painting(name), features, steps, precision)
            save_gatys(name, index, image, {"photo": os.path.basename(photo), "style": name, "index": index, **record})
            print(f"gatys {name} photo {index}: {record['evaluations']} evaluations in {record['seconds']:.0f}s, "
                  f"loss {record['first']['loss']:.3f} -> {record['last']['loss']:.3f}", flush=True)


def optimise(photo, style_image, features, steps: int, precision: str):
    """Gatys' optimisation of ``photo`` at SIZE x SIZE on the shipped networks' objective: ``(image, record)``.

    ``record`` holds the steps, ``precision`` (``features``' precision), evaluations, seconds and first and last losses.
    """
    from hub_plugins.fast_style import perceptual
    from hub_plugins.fast_style import style as style_module

    start = time.perf_counter()
    image, history = style_module.optimize(
        photo, style_image, size=(SIZE, SIZE), steps=steps, content_layer=perceptual.GATYS_CONTENT_LAYERS[0],
        style_layers=perceptual.GATYS_STYLE_LAYERS, content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT,
        tv_weight=TV_WEIGHT, features=features)
    return image, {"steps": steps, "precision": precision, "evaluations": len(history),
                   "seconds": round(time.perf_counter() - start, 1), "first": history[0], "last": history[-1]}


def save_gatys(style: str, index: int, image, record: dict) -> pathlib.Path:
    """Write a Gatys result and its record where :func:`report` reads them; the image last, as it marks the photo done."""
    from hub_core.vision import imaging

    target = _gatys_file(style, index)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    imaging.save_image(image, target)
    return target


def report() -> None:
    """Losses of the fast networks and the finished Gatys results on the same objective; the grid."""
    import numpy as np

    import hub_core as hub
    from hub_core.files import atomic_path
    from hub_core.vision import imaging
    from hub_plugins.fast_style import perceptual
    from hub_plugins.fast_style import style as style_module

    features = _features()
    photos = [imaging.load_pixels(photo, (SIZE, SIZE)) for photo in held_out_photos()]
    rows, grid_rows = [], []
    for name in STYLES:
        net = style_module.style_model(name)
        loss = perceptual.PerceptualLoss(features, imaging.load_pixels(painting(name), SIZE),
                                         content_layers=perceptual.GATYS_CONTENT_LAYERS,
                                         style_layers=perceptual.GATYS_STYLE_LAYERS, content_weight=CONTENT_WEIGHT,
                                         style_weight=STYLE_WEIGHT, tv_weight=TV_WEIGHT)
        for index, (photo, path) in enumerate(zip(photos, held_out_photos())):
            fast = hub.stylize(net, photo)
            gatys_file = _gatys_file(name, index)
            gatys = imaging.load_pixels(gatys_file) if gatys_file.exists() else None
            measured = {label: {k: float(v) for k, v in loss(photo[None], np.asarray(image, "float32")[None]).items()}
                        for label, image in (("photo", photo), ("fast", fast), ("gatys", gatys)) if image is not None}
            row = {"style": name, "photo": os.path.basename(path), "photo_style": measured["photo"]["style"],
                   "fast_content": measured["fast"]["content"], "fast_style": measured["fast"]["style"],
                   "fast_objective": measured["fast"]["loss"]}
            if gatys is not None:
                row.update(gatys_content=measured["gatys"]["content"], gatys_style=measured["gatys"]["style"],
                           gatys_objective=measured["gatys"]["loss"])
                row.update(content_ratio=row["fast_content"] / row["gatys_content"],
                           style_ratio=row["fast_style"] / row["gatys_style"],
                           objective_ratio=row["fast_objective"] / row["gatys_objective"])
            rows.append(row)
            if index == 0:
                grid_rows.append(np.concatenate([photo, gatys if gatys is not None else np.zeros_like(photo), fast], 1))
    GRID.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    half = imaging.load_pixels(np.concatenate(grid_rows, 0), (SIZE * len(grid_rows) // 2, SIZE * 3 // 2))
    with atomic_path(GRID) as partial:
        Image.fromarray(imaging.to_uint8(half)).save(partial, format="JPEG", quality=85)
    summary = []
    for name in STYLES:
        done = [row for row in rows if row["style"] == name and "style_ratio" in row]
        summary.append({"style": name, "photos_with_gatys": len(done),
                        **{f"mean_{ratio}": float(np.mean([r[ratio] for r in done])) if done else None
                           for ratio in ("content_ratio", "style_ratio", "objective_ratio")},
                        "photos_meeting_both": sum(r["content_ratio"] <= 1.5 and r["style_ratio"] <= 2 for r in done)})
    gatys_runs = [json.loads(path.read_text()) for path in sorted(EVAL.glob(f"gatys_*_sw{STYLE_WEIGHT:g}_*.json"))]
    path = write_result("bench_style", rows, summary=summary, size=SIZE, gatys=gatys_runs,
                        objective={"content_weight": CONTENT_WEIGHT, "tv_weight": TV_WEIGHT, "style_weight": STYLE_WEIGHT,
                                   "content_layers": perceptual.GATYS_CONTENT_LAYERS, "style_layers": perceptual.GATYS_STYLE_LAYERS})
    print_table(rows)
    print_table(summary)
    print(f"grid: {GRID}\nresults: {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gatys = commands.add_parser("gatys", help="optimise the held-out photos not done yet")
    gatys.add_argument("--steps", type=int, default=300, help="L-BFGS iterations")
    gatys.add_argument("--until", default=None, help="start no photo after this UTC time (HH:MM)")
    gatys.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                       help="the loss network's precision while optimising (the report measures in float32)")
    gatys.add_argument("--photos", type=int, default=None, help="only the first N held-out photos")
    commands.add_parser("report", help="losses, grid and JSON")
    args = parser.parse_args(argv)
    if args.command == "gatys":
        run_gatys(args.steps, args.until, args.precision, args.photos)
    else:
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
