"""``hub stylize`` and ``hub train-style``: fast neural style transfer from the command line.

Each command is one ``hub_core.commands`` entry point (see setup.cfg) naming
its ``register`` function; ``hub`` imports this module only to run or
describe these commands. It imports no TensorFlow or Keras itself.
"""

from __future__ import annotations

import os
import pathlib


def register_stylize(subparsers) -> None:
    """Add the ``stylize`` subcommand."""
    from hub_core.exporting.engines import ENGINES

    p = subparsers.add_parser(
        "stylize",
        help="stylise images with a shipped style or a trained fast_style network",
        description="Stylise images with a shipped style (starry_night, the default, or the_scream) "
                    "or a fast_style run directory (from 'hub train-style') or weights file.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="folder for the stylised PNGs")
    p.add_argument("--style", default=None, metavar="STYLE_OR_RUN_DIR",
                   help="a shipped style (default: starry_night) or a run directory / weights file")
    p.add_argument("--size", type=int, default=None, help="resize so the longer side has this many pixels")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="inference engine (default auto: the fastest installed engine that agrees with Keras)")
    p.set_defaults(func=stylize_command)


def register_train_style(subparsers) -> None:
    """Add the ``train-style`` subcommand."""
    p = subparsers.add_parser(
        "train-style",
        help="train a fast_style network for one style image",
        description="Train a fast_style network on a folder of photos; resumes when run again with the same --run-dir.",
    )
    p.add_argument("style", metavar="STYLE_IMAGE")
    p.add_argument("content", metavar="CONTENT_DIR", help="folder of photos (sub-folders included)")
    p.add_argument("--run-dir", required=True, help="run directory (checkpoints, previews, transform.weights.h5)")
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int)
    length.add_argument("--epochs", type=int)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--style-weight", type=float, default=1.0)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--tv-weight", type=float, default=10.0)
    p.add_argument("--preview-every", type=int, default=100)
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh, ignoring the run directory's checkpoints (refused when it holds results; see --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="move an earlier run in the run directory aside (renamed RUN_DIR.YYYYmmdd-HHMMSS) and start afresh")
    p.set_defaults(func=train_style_command)


def stylize_command(args) -> int:
    """Stylise each image into ``OUT_DIR/<name>_stylized.png``."""
    from hub_core.errors import DataError, InvalidArgumentError
    from hub_plugins.fast_style.weights import STYLES

    if args.style is not None and args.style not in STYLES and not os.path.exists(args.style):
        raise DataError(f"--style {args.style} is neither a shipped style ({', '.join(STYLES)}) nor an existing run "
                        "directory or weights file; pick a style or pass the run directory of 'hub train-style'.")
    missing = [image for image in args.images if not pathlib.Path(image).is_file()]
    if missing:
        raise DataError(f"Image file {missing[0]} does not exist; check the path.")
    if args.size is not None and args.size < 1:
        raise InvalidArgumentError(f"--size must be a positive number of pixels, got {args.size}.")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"Output {out} is a file; pass a folder for -o.")

    from hub_core.vision import imaging
    from hub_plugins.fast_style import style

    model = style.style_model(args.style)
    out.mkdir(parents=True, exist_ok=True)
    for image in args.images:
        target = out / f"{pathlib.Path(image).stem}_stylized.png"
        imaging.save_image(style.stylize(model, image, size=args.size, engine=args.engine), target)
        print(target)
    return 0


def train_style_command(args) -> int:
    """Run :func:`~hub_plugins.fast_style.style.train_style` and print where the weights went."""
    from hub_core.errors import DataError

    if not pathlib.Path(args.style).is_file():
        raise DataError(f"Style image {args.style} does not exist; check the path.")

    from hub_plugins.fast_style import style

    result = style.train_style(
        args.style, args.content, image_size=args.image_size, batch_size=args.batch_size, steps=args.steps,
        epochs=args.epochs, style_weight=args.style_weight, content_weight=args.content_weight,
        tv_weight=args.tv_weight, run_dir=args.run_dir, resume=not args.no_resume, overwrite=args.overwrite,
        preview_every=args.preview_every,
    )
    print(f"weights: {pathlib.Path(result.run_dir) / 'transform.weights.h5'}")
    return 0
