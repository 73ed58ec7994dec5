"""The shipped styles' training and their Gatys reference on an accelerator, with Keras 3 + JAX (no TensorFlow).

``benchmarks/train_styles.py`` (``hub.train_style`` on the TensorFlow training loop)
is the CPU route, about 30 steps a minute on 2 cores. This script is the route for
a GPU machine without TensorFlow: the same recipe and objective (``fast_style_lite``,
random flipped crops of the 512x512 centre crops of ``bench_style.training_photos()``,
the painting at 512 pixels, Gatys' layers on the HED VGG16 loss network in bfloat16,
``bench_style``'s content, style and TV weights, Adam 1e-3, identity steps first),
run with ``train_on_batch`` for a wall-clock budget per style, and ``bench_style``'s
Gatys optimisation of the 5 held-out photos (300 L-BFGS steps). Three steps::

    python benchmarks/train_style_device.py prepare DATA        # here: photos, paintings, loss network (about 45 MB)
    KERAS_BACKEND=jax python benchmarks/train_style_device.py run DATA OUT --seconds 200 --gatys   # on the GPU
    python benchmarks/train_style_device.py install OUT          # here: the styles and the Gatys results

``run`` needs Keras, JAX, numpy, scipy, h5py and Pillow (no TensorFlow, no install of
the hub: it imports the checkout). On the lent GPU machine, which has JAX but not Keras,
carry ``DATA`` and Keras' wheels (``pip download --no-deps --only-binary=:all:
--python-version 3.12 --platform manylinux_2_28_x86_64 -d .whl keras==3.15.1 namex==0.1.0
optree==0.20.0``; both folders listed in ``.git/info/exclude``) and run
``python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
PYTHONPATH=/tmp/site KERAS_BACKEND=jax python3 benchmarks/train_style_device.py run DATA $OUT ...``.
Tested here under JAX on the CPU with TensorFlow hidden. ``run`` writes ``OUT/<style>.npz`` (float16, how styles
ship), ``OUT/train.json`` (loss curves) and, with ``--gatys``, ``OUT/gatys.npz`` and
``OUT/gatys.json``. ``install`` puts the styles into ``plugins/fast_style/data/``
(then put the printed sizes and sha256 into ``SHIPPED`` of ``plugins/fast_style/weights.py``
and run ``python -m hub_core.hub.catalog --write``) and the Gatys results where
``bench_style.py report`` reads them.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
IDENTITY_LEARNING_RATE = 1e-3


def _import_checkout() -> None:
    """Make ``hub_core`` and ``hub_plugins`` importable from the checkout (no install needed)."""
    import importlib.util

    sys.path.insert(0, str(ROOT))
    if importlib.util.find_spec("hub_plugins") is None:
        spec = importlib.util.spec_from_file_location("hub_plugins", ROOT / "plugins" / "__init__.py",
                                                      submodule_search_locations=[str(ROOT / "plugins")])
        module = importlib.util.module_from_spec(spec)
        sys.modules["hub_plugins"] = module
        spec.loader.exec_module(module)


def prepare(data: pathlib.Path) -> None:
    """Write the photos (uint8), the paintings and the HED VGG16 conv weights (float16) into ``data``."""
    import numpy as np

    import bench_style
    from hub_core.vision import imaging
    from hub_plugins.fast_style import style as style_module
    from hub_plugins.vgg16.weights import read_hed_bsds500

    data.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(data / "content.npz", images=style_module._content_array(bench_style.training_photos(), 512))
    held_out = bench_style.held_out_photos()
    np.savez_compressed(data / "held_out.npz", names=np.array([pathlib.Path(p).name for p in held_out]),
                        images=np.stack([imaging.to_uint8(imaging.load_pixels(p, (bench_style.SIZE,) * 2)) for p in held_out]))
    np.savez_compressed(data / "paintings.npz", **{name: imaging.to_uint8(imaging.load_pixels(bench_style.painting(name), 512))
                                                   for name in bench_style.STYLES})
    np.savez(data / "vgg16_hed.npz", **{f"{layer}/{index}": np.asarray(array, "float16")
                                        for layer, arrays in read_hed_bsds500().items() for index, array in enumerate(arrays)})
    print(f"{data}: {sum(f.stat().st_size for f in data.iterdir()) / 1e6:.1f} MB", flush=True)


def _features(data: pathlib.Path, precision: str):
    from hub_core import vision
    from hub_plugins.fast_style import perceptual
    from hub_plugins.vgg16.plugin import VGG16Plugin

    plugin = VGG16Plugin()
    vgg = plugin.build(plugin.variant("vgg16"), weights=None, include_top=False, features=True,
                       include_preprocessing=True, input_shape=(None, None, 3), precision=precision)
    vision.assign_weights(vgg, vision.read_weights(data / "vgg16_hed.npz"), source="vgg16_hed.npz")
    return perceptual.feature_model(vgg, (*perceptual.GATYS_CONTENT_LAYERS, *perceptual.GATYS_STYLE_LAYERS))


def _crops(content, size: int, batch: int, rng):
    """A batch of random crops of random photos, each flipped left-right half the time."""
    import numpy as np

    out = np.empty((batch, size, size, 3), dtype="float32")
    for i in range(batch):
        image = content[rng.integers(len(content))]
        top, left = rng.integers(image.shape[0] - size + 1), rng.integers(image.shape[1] - size + 1)
        crop = image[top:top + size, left:left + size]
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def _train(name: str, painting, content, features, args) -> tuple[object, dict]:
    """One style: identity steps, then the perceptual objective for ``args.seconds``; the network and its curve."""
    import keras
    import numpy as np

    import bench_style
    from hub_plugins.fast_style import perceptual
    from hub_plugins.fast_style.plugin import FastStylePlugin

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    plugin = FastStylePlugin()
    transform = plugin.build(plugin.variant("fast_style_lite"))
    transform.compile(optimizer=keras.optimizers.Adam(IDENTITY_LEARNING_RATE), loss="mean_squared_error")
    for _ in range(args.identity_steps):
        crops = _crops(content, args.size, args.batch, rng)
        transform.train_on_batch(crops, crops)
    loss = perceptual.PerceptualLoss(
        features, painting, content_layers=perceptual.GATYS_CONTENT_LAYERS, style_layers=perceptual.GATYS_STYLE_LAYERS,
        content_weight=bench_style.CONTENT_WEIGHT, style_weight=bench_style.STYLE_WEIGHT, tv_weight=bench_style.TV_WEIGHT)
    trainer = perceptual.StyleTrainer(transform, loss)
    trainer.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    curve, start, step = [], time.time(), 0
    while time.time() - start < args.seconds:
        crops = _crops(content, args.size, args.batch, rng)
        logs = trainer.train_on_batch(crops, crops, return_dict=True)
        step += 1
        if step == 1 or step % 100 == 0:
            curve.append({"step": step, "seconds": round(time.time() - start, 2), **{k: float(v) for k, v in logs.items()}})
        if step == 1:
            print(f"{name}: first step (compiling) {time.time() - start:.1f}s", flush=True)
    summary = {"style": name, "steps": step, "seconds": round(time.time() - start, 1), "identity_steps": args.identity_steps,
               "size": args.size, "batch": args.batch, "learning_rate": args.learning_rate, "curve": curve}
    print(f"{name}: {step} steps in {summary['seconds']:.0f}s; last {curve[-1]}", flush=True)
    return transform, summary


def _gatys(data: pathlib.Path, out: pathlib.Path, features, steps: int, precision: str) -> None:
    """bench_style's Gatys optimisation of every held-out photo and style: ``OUT/gatys.npz`` and ``OUT/gatys.json``."""
    import numpy as np

    import bench_style

    held_out, paintings = np.load(data / "held_out.npz"), np.load(data / "paintings.npz")
    images, records = {}, []
    for index, (photo_name, photo) in enumerate(zip(held_out["names"], held_out["images"])):
        for name in bench_style.STYLES:
            image, record = bench_style.optimise(photo, paintings[name], features, steps, precision)
            images[f"{name}_{index}"] = image
            records.append({"photo": str(photo_name), "style": name, "index": index, **record})
            print(f"gatys {name} photo {index}: {record['evaluations']} evaluations in {record['seconds']:.0f}s", flush=True)
    np.savez(out / "gatys.npz", **images)
    (out / "gatys.json").write_text(json.dumps(records, indent=1) + "\n")


def run(args) -> None:
    """Train every style and, with ``--gatys``, optimise the held-out photos (see the module docstring)."""
    import keras
    import numpy as np

    import bench_style
    from hub_plugins.fast_style import weights as store

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"keras {keras.__version__} on {keras.backend.backend()}", flush=True)
    features = _features(args.data, args.precision)
    content, paintings = np.load(args.data / "content.npz")["images"], np.load(args.data / "paintings.npz")
    summaries = []
    for name in bench_style.STYLES:
        transform, summary = _train(name, paintings[name].astype("float32"), content, features, args)
        store.save_float16(transform, args.out / f"{name}.npz")
        summaries.append(summary)
        (args.out / "train.json").write_text(json.dumps(summaries, indent=1) + "\n")
    if args.gatys:
        _gatys(args.data, args.out, features, args.gatys_steps, args.precision)


def install(out: pathlib.Path) -> None:
    """The trained styles into ``plugins/fast_style/data/``, the Gatys results into ``bench_style.EVAL``."""
    import numpy as np

    import bench_style
    from hub_core.files import sha256_file
    from hub_plugins.fast_style import weights as store

    for name in bench_style.STYLES:
        target = store.DATA / f"{name}.npz"
        shutil.copyfile(out / f"{name}.npz", target)
        print(f"{target}: {target.stat().st_size} bytes, sha256 {sha256_file(target)}")
    if (out / "gatys.json").exists():
        images = np.load(out / "gatys.npz")
        for record in json.loads((out / "gatys.json").read_text()):
            target = bench_style.save_gatys(record["style"], record["index"], images[f"{record['style']}_{record['index']}"], record)
            print(f"gatys {record['style']} photo {record['index']}: {target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="write the data folder (here)").add_argument("data", type=pathlib.Path)
    train = commands.add_parser("run", help="train the styles and optimise the Gatys reference (on the GPU)")
    train.add_argument("data", type=pathlib.Path)
    train.add_argument("out", type=pathlib.Path)
    train.add_argument("--seconds", type=float, default=200.0, help="training time per style, after the identity steps")
    train.add_argument("--size", type=int, default=256, help="side of the training crops")
    train.add_argument("--batch", type=int, default=8)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--identity-steps", type=int, default=200)
    train.add_argument("--precision", default="bfloat16", choices=("float32", "bfloat16"))
    train.add_argument("--gatys", action="store_true", help="also optimise the 5 held-out photos for each style")
    train.add_argument("--gatys-steps", type=int, default=300)
    commands.add_parser("install", help="put the results in place (here)").add_argument("out", type=pathlib.Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    _import_checkout()
    if args.command == "prepare":
        prepare(args.data)
    elif args.command == "run":
        run(args)
    else:
        install(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
