"""Train fast_style transform networks on an accelerator with Keras 3 + JAX (no TensorFlow).

``hub.train_style`` runs on the shared TensorFlow training loop; this script is
the accelerator route for the style benchmark when a GPU without TensorFlow is
at hand. It uses the same pieces (the fast_style plugin's ``transform_net``,
``PerceptualLoss`` and ``StyleTrainer``, the vgg16 plugin's builder) with ``train_on_batch`` on random 256x256 crops, for a fixed
wall-clock budget per style weight, and writes for each: ``<tag>.weights.h5`` (readable by ``hub.load("fast_style",
weights=...)``), ``<tag>_preview.png`` and the loss curve in ``<tag>.json``.

The data folder holds ``content/*.jpg`` (the photos), ``style.jpg`` and
``vgg16_hed.npz`` (the HED VGG16 conv weights, ``"<layer>/<index>"`` keys;
float16 to travel light). Usage::

    KERAS_BACKEND=jax python benchmarks/train_style_device.py --data DIR --out OUT \\
        --style-weights 100,1000 --seconds 120
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def _vgg(weights: pathlib.Path):
    from hub_core.hub.plugin import WeightsRef
    from hub_plugins.vgg16.plugin import VGG16Plugin

    plugin = VGG16Plugin()
    return plugin.build(plugin.variant("vgg16"), weights=WeightsRef(location=str(weights)), include_top=False,
                        features=True, include_preprocessing=True, input_shape=(None, None, 3))


def _crops(content, size: int, batch: int, rng):
    import numpy as np

    out = np.empty((batch, size, size, 3), dtype="float32")
    for i in range(batch):
        image = content[rng.integers(len(content))]
        top, left = rng.integers(image.shape[0] - size + 1), rng.integers(image.shape[1] - size + 1)
        crop = image[top:top + size, left:left + size]
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--style-weights", default="100,1000")
    parser.add_argument("--tv-weight", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=120.0, help="training time per style weight")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--style-size", type=int, default=512)
    args = parser.parse_args(argv)
    _import_checkout()
    import keras
    import numpy as np

    from hub_core.vision import imaging
    from hub_plugins.fast_style import model, perceptual

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"keras {keras.__version__} backend {keras.backend.backend()}", flush=True)
    side = round(args.size * 1.25)
    content = np.stack([imaging.load_image(p, side, crop="center") for p in sorted((args.data / "content").glob("*.jpg"))])
    content = content.astype("float32")
    previews = content[:4, (side - args.size) // 2:, (side - args.size) // 2:][:, :args.size, :args.size]
    features = perceptual.feature_model(_vgg(args.data / "vgg16_hed.npz"), ("relu3_3", *perceptual.JOHNSON_STYLE_LAYERS))
    style = imaging.load_pixels(args.data / "style.jpg", args.style_size)
    for style_weight in [float(w) for w in args.style_weights.split(",")]:
        tag = f"starry_sw{style_weight:g}"
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        loss = perceptual.PerceptualLoss(features, style, style_weight=style_weight, tv_weight=args.tv_weight)
        trainer = perceptual.StyleTrainer(model.transform_net(), loss)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
        curve, start, step = [], time.time(), 0
        while time.time() - start < args.seconds:
            logs = trainer.train_on_batch(*[_crops(content, args.size, args.batch, rng)] * 2, return_dict=True)
            step += 1
            if step == 1:
                print(f"{tag}: first step (compile) {time.time() - start:.1f}s", flush=True)
            if step % 50 == 0 or step == 1:
                curve.append({"step": step, "seconds": round(time.time() - start, 2), **{k: float(v) for k, v in logs.items()}})
        seconds = time.time() - start
        trainer.transform.save_weights(args.out / f"{tag}.weights.h5")
        stylised = np.asarray(trainer.transform.predict_on_batch(previews))
        grid = np.concatenate([np.concatenate(list(previews), 1), np.concatenate(list(stylised), 1)], 0)
        imaging.save_image(grid, args.out / f"{tag}_preview.png")
        summary = {"style_weight": style_weight, "tv_weight": args.tv_weight, "steps": step, "batch": args.batch,
                   "size": args.size, "seconds": round(seconds, 1), "curve": curve}
        (args.out / f"{tag}.json").write_text(json.dumps(summary, indent=1))
        print(f"{tag}: {step} steps in {seconds:.0f}s; last {curve[-1]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
