"""``hub sweep`` and ``hub embed``.

Examples::

    hub sweep tiny_convnet --data digits/train --val digits/test --trials 12 --epochs 4 --out sweeps/digits \
        --param learning_rate=loguniform:1e-4:1e-2 --param strategy=head,two_phase --workers 2
    hub sweep --out sweeps/digits --show
    hub embed sweeps/digits/trial-0003 --data digits/test --out embeddings/digits
"""

from __future__ import annotations

from hub_core.cli.main import print_table


def register(subparsers) -> None:
    """Add ``hub sweep`` and ``hub embed``."""
    p = subparsers.add_parser("sweep", help="search hyperparameters with Optuna (each trial a run directory)",
                              description="Search fine-tuning (or training) hyperparameters with Optuna. Every trial is "
                                          "a run directory under --out; the same command again continues the study.")
    p.add_argument("model", metavar="MODEL", nargs="?", help="hub model name (not needed with --show)")
    p.add_argument("--data", metavar="DIR", help="image folder with one sub-folder per class")
    p.add_argument("--val", default=None, metavar="DIR", help="validation image folder")
    p.add_argument("--val-split", type=float, default=None, help="hold out this fraction of --data instead")
    p.add_argument("--trials", type=int, default=None, help="total trials of the study (a rerun adds none once done)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    p.add_argument("--out", required=True, metavar="SWEEP_DIR")
    p.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                   help="replace or add a parameter of the default space (the task's plus the model's plugin's; "
                        "repeatable): loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH or choices a,b,c; one "
                        "value fixes it, e.g. --param strategy=head")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna RDB URL (postgresql://, mysql://) shared by workers on several machines "
                        "(default: a journal file in SWEEP_DIR)")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median")
    p.add_argument("--metric", default="val_accuracy", help="per-epoch metric compared (names ending in loss are minimised)")
    p.add_argument("--mode", choices=("fine-tune", "train"), default="fine-tune",
                   help="fine-tune pretrained weights (default) or train from scratch")
    p.add_argument("--weights", default=None, help="weight set (default: the model's for fine-tune, none for train)")
    p.add_argument("--image-size", type=int, default=None, help="square input size (default: the model's)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="seed of every trial (recorded in sweep.json)")
    p.add_argument("--show", action="store_true", help="print the results table of SWEEP_DIR and exit")
    p.set_defaults(func=sweep_command)

    p = subparsers.add_parser("embed", help="write embeddings of an image folder for TensorBoard's projector",
                              description="Penultimate-layer embeddings, metadata.tsv, a sprite image and the projector "
                                          "config, for tensorboard --logdir LOGDIR.")
    p.add_argument("model", metavar="RUN_DIR|MODEL")
    p.add_argument("--data", required=True, metavar="DIR", help="image folder with one sub-folder per class")
    p.add_argument("--out", required=True, metavar="LOGDIR")
    p.add_argument("--layer", default=None, help="layer to embed (default: the classifier's input)")
    p.add_argument("--limit", type=int, default=4096, help="most images (a larger folder is subsampled evenly)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=embed_command)


def _space(params: list[str], model: str, task: str, epochs: int):
    """The default space of ``model`` and ``task``, each ``--param NAME=SPEC`` replacing or adding a parameter."""
    from hub_core.errors import InvalidArgumentError
    from hub_core.training.search_space import default_space, parse_param

    space = default_space(model, task, epochs)
    for item in params:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise InvalidArgumentError(f"--param {item!r} is not NAME=SPEC; write e.g. --param learning_rate=loguniform:1e-4:1e-2.")
        space[name.strip()] = parse_param(name.strip(), spec)
    return space


def print_summary(summary) -> None:
    """Print a sweep summary's table and its best trial."""
    from hub_core.training import sweep

    rows, header = sweep.table_rows(summary)
    print_table(rows, header)
    best = summary.get("best")
    if best:
        print(f"best {summary['metric']} = {best['value']:.4f} (trial {best['number']}, seed {best['seed']}): "
              f"{best['params']}; run directory {best['run_dir']}")


def sweep_command(args) -> int:
    """Run ``hub sweep`` (or ``--show``) and print the table."""
    from hub_core.errors import InvalidArgumentError
    from hub_core.training import sweep

    if args.show:
        print_summary(sweep.read_summary(args.out))
        return 0
    missing = [flag for flag, value in (("MODEL", args.model), ("--data", args.data), ("--trials", args.trials)) if not value]
    if missing:
        raise InvalidArgumentError(f"hub sweep needs {', '.join(missing)} (or --show to print an earlier sweep).")
    if args.val and args.val_split:
        raise InvalidArgumentError("Pass either --val or --val-split, not both.")
    options = {"batch_size": args.batch_size, "seed": args.seed}
    if args.weights is not None:
        options["weights"] = args.weights
    size = (args.image_size, args.image_size) if args.image_size else None
    task = args.mode.replace("-", "_")
    sweep.sweep(args.model, args.data, args.val or args.val_split, space=_space(args.param, args.model, task, args.epochs),
                trials=args.trials, epochs=args.epochs, sweep_dir=args.out, workers=args.workers, storage=args.storage,
                pruner=args.pruner, metric=args.metric, task=task, image_size=size, **options)
    print_summary(sweep.read_summary(args.out))
    print(f"sweep directory: {args.out} (sweep.json, sweep.png; tensorboard --logdir {args.out})")
    return 0


def embed_command(args) -> int:
    """Run ``hub embed`` and say where the projector files are."""
    from hub_core.training.embed import embed

    report = embed(args.model, args.data, args.out, layer=args.layer, limit=args.limit, batch_size=args.batch_size)
    print(f"embedded {report['count']} images ({report['dim']} values each, the {report['layer']}) in {report['logdir']}; "
          f"tensorboard --logdir {report['logdir']}, then the Projector tab")
    return 0
