"""Train the shipped fast_style_lite styles with ``hub.train_style`` on this CPU (resumable).

The recipe of the weights in ``plugins/fast_style/data/``: ``fast_style_lite``
on random 192x192 crops (flipped) of 512x512 centre crops of every real photo the
packages give (``bench_style.training_photos()``: skimage, scikit-learn and
foolbox's ImageNet photos, less the 5 held-out ones), with the painting at 512
pixels, Gatys' loss layers (content ``relu4_2``, style ``relu1_1``..``relu5_1``)
on the HED VGG16 loss network in bfloat16, style weight 0.5 and TV weight 10
(``bench_style.STYLE_WEIGHT`` and ``TV_WEIGHT``, the objective Gatys' reference
optimises too; at style weight 2 the network paints over the photo within 50
steps), Adam 1e-3, batch 2, after 200
steps fitting the network to reproduce the photos (``--identity-steps``), so
training starts from the photo. Each call trains until ``--steps`` or
until ``--until`` (UTC ``HH:MM``), checkpointing every ``--checkpoint-every``
steps; run it again with the same ``--run-dir`` to resume (past ``--until`` it
stops at the next multiple of 100 steps, so ``--steps`` set to the steps it made
repeats the run). It then writes
``RUN_DIR/transform.weights.h5``, and ``--export FILE`` a float16 ``.npz`` of it.
Usage (STEPS: see the README's table)::

    python benchmarks/train_styles.py starry_night --run-dir benchmarks/results/train_starry_night --steps STEPS \
        --export plugins/fast_style/data/starry_night.npz
    python benchmarks/train_styles.py the_scream --run-dir benchmarks/results/train_the_scream --steps STEPS \
        --export plugins/fast_style/data/the_scream.npz

(the shipped files; then put their sizes and sha256 in ``SHIPPED`` of ``plugins/fast_style/weights.py``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys
import time

from bench_style import STYLE_WEIGHT, TV_WEIGHT, training_photos

PAINTINGS = {"starry_night": "starry_night.jpg", "the_scream": "scream.jpg"}


def painting(style: str) -> pathlib.Path:
    """The painting's file in the test-data folder (``scripts/install-test-data.sh`` puts it there)."""
    from hub_core import config

    return config.data_dir() / PAINTINGS[style]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("style", choices=sorted(PAINTINGS))
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--until", default=None, help="stop at this UTC time (HH:MM); run again to resume")
    parser.add_argument("--variant", default="fast_style_lite", choices=("fast_style", "fast_style_lite"))
    parser.add_argument("--size", type=int, default=192, help="side of the training crops")
    parser.add_argument("--content-size", type=int, default=512, help="side of the photos the crops come from")
    parser.add_argument("--style-size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--style-weight", type=float, default=STYLE_WEIGHT)
    parser.add_argument("--tv-weight", type=float, default=TV_WEIGHT)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--precision", default="bfloat16", choices=("float32", "bfloat16"))
    parser.add_argument("--checkpoint-every", type=int, default=25)
    parser.add_argument("--preview-every", type=int, default=50)
    parser.add_argument("--init", default=None, help="start from these transform weights")
    parser.add_argument("--identity-steps", type=int, default=200,
                        help="first fit the network to reproduce the photos for this many steps (start from the photo)")
    parser.add_argument("--export", default=None, help="also write the weights as a float16 .npz here")
    args = parser.parse_args(argv)

    import keras

    import hub_core as hub
    from hub_plugins.fast_style import perceptual
    from hub_plugins.fast_style import weights as store

    run_dir = pathlib.Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    deadline = None
    if args.until:
        now = datetime.datetime.now(datetime.timezone.utc)
        hour, minute = (int(part) for part in args.until.split(":"))
        deadline = now.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()
    log = (run_dir / "steps.jsonl").open("a")
    started = time.time()

    class StepLog(keras.callbacks.Callback):
        """Appends every step's losses to ``RUN_DIR/steps.jsonl``; past the deadline, stops at the next epoch end.

        Epochs are 100 steps, so a run stopped this way is reproduced by ``--steps`` set to its step count.
        """

        def on_train_batch_end(self, batch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            log.write(json.dumps({"step": step, "seconds": round(time.time() - started, 1),
                                  **{k: round(float(v), 5) for k, v in (logs or {}).items()}}) + "\n")
            log.flush()
            if deadline is not None and time.time() > deadline and step % 100 == 0:
                self.model.stop_training = True

    result = hub.train_style(
        painting(args.style), training_photos(), image_size=args.size, content_size=args.content_size,
        batch_size=args.batch, steps=args.steps, style_weight=args.style_weight, tv_weight=args.tv_weight,
        learning_rate=args.learning_rate, style_size=args.style_size, precision=args.precision,
        content_layers=perceptual.GATYS_CONTENT_LAYERS, style_layers=perceptual.GATYS_STYLE_LAYERS,
        variant=args.variant, run_dir=run_dir, resume=True, checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, initial_weights=args.init, identity_steps=args.identity_steps,
        callbacks=[StepLog()], verbose=0,
    )
    print(f"{args.style}: weights in {run_dir / 'transform.weights.h5'} after {time.time() - started:.0f}s", flush=True)
    if args.export:
        print(f"float16 weights: {store.save_float16(result.model, args.export)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
