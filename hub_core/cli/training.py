"""``hub fine-tune``, ``hub train``, ``hub evaluate``, ``hub export`` and ``hub demo``.

Examples::

    hub fine-tune vgg16 --weights hed_bsds500 --data flowers/ --val-split 0.2 --epochs 4 --out runs/flowers
    hub train resnet20 --data train/ --val test/ --epochs 30 --out runs/r20
    hub evaluate runs/flowers --data flowers_test/
    hub export runs/flowers --format tflite
    hub export runs/flowers --format openvino --quantize int8 --calibration photos/
    hub demo
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from hub_core.cli.main import print_json, print_table


def register(subparsers) -> None:
    """Add the training subcommands."""
    from hub_core import exporting
    from hub_core.exporting import quantize

    for name, help_text in (("fine-tune", "fine-tune a model on an image folder"),
                            ("train", "train a model from scratch on an image folder")):
        p = subparsers.add_parser(name, help=help_text, description=f"{help_text[0].upper()}{help_text[1:]} (one sub-folder per class).")
        p.add_argument("model", metavar="NAME")
        _data_arguments(p)
        p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (resumed when it exists)")
        p.add_argument("--epochs", type=int, default=3)
        p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
        p.add_argument("--weights", default="default" if name == "fine-tune" else None,
                       help="weight set, path or URL (fine-tune default: the model's default set; train: none)")
        p.add_argument("--augment", action="store_true", help="random flips, crops, brightness and contrast")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS")
        p.add_argument("--no-resume", action="store_true",
                       help="start afresh, ignoring RUN_DIR's checkpoints (refused when RUN_DIR holds results; see --overwrite)")
        p.add_argument("--overwrite", action="store_true",
                       help="move an earlier run in RUN_DIR aside (to RUN_DIR.YYYYmmdd-HHMMSS) and start afresh")
        p.add_argument("--optimizer", default="adam",
                       help="Keras optimizer name, or a named optimizer of the model's plugin (its 'optimizer:NAME' capabilities)")
        p.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
        p.add_argument("--label-smoothing", type=float, default=0.0)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                       help="XLA-compile the training step (default auto: what benchmarks/bench_xla.py measured "
                       "fastest on CPU for the model's task)")
        if name == "fine-tune":
            p.add_argument("--strategy", choices=("two_phase", "head", "full"), default="two_phase")
            p.add_argument("--unfreeze", type=int, default=2, help="blocks unfrozen in the second phase")
            p.add_argument("--layer-decay", type=float, default=None)
            p.add_argument("--cache-features", choices=("auto", "on", "off"), default="auto")
            p.add_argument("--feature-cache", default=None, metavar="DIR",
                           help="keep cached backbone features in DIR, shared by the runs that use it "
                                "(default: RUN_DIR/feature_cache)")
        p.set_defaults(func=fit_command, mode=name)

    p = subparsers.add_parser("evaluate", help="evaluate a run directory on labelled images",
                              description="Accuracy, top-k, loss and confusion matrix of a run directory or .keras file.")
    p.add_argument("model", metavar="RUN_DIR")
    p.add_argument("--data", required=True, metavar="DIR", help="image folder with one sub-folder per class, or a table with --label")
    p.add_argument("--label", default=None, metavar="COLUMN", help="tabular data: the target column")
    p.add_argument("--spec", default=None, metavar="JSON", help="tabular feature spec (default: inferred from --data)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="k of the top-k accuracy (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=evaluate_command)

    p = subparsers.add_parser("export", help="export a run directory or .keras file",
                              description="Export to .keras, a TF SavedModel, TFLite, ONNX or OpenVINO IR; "
                                          "each export is reloaded in its own runtime and checked.")
    p.add_argument("model", metavar="RUN_DIR")
    p.add_argument("--format", choices=exporting.FORMATS, default="keras")
    p.add_argument("--quantize", choices=quantize.QUANTIZE, default=None,
                   help="post-training quantization with NNCF (openvino only; needs --calibration)")
    p.add_argument("--calibration", default=None, metavar="DIR", help="folder of real images to calibrate --quantize on")
    p.add_argument("--out", default=None, metavar="PATH", help="default: RUN_DIR/export/model.<format>")
    p.set_defaults(func=export_command)

    p = subparsers.add_parser("demo", help="fine-tune, evaluate and predict on real images, offline, in a few minutes",
                              description="Discover the plugins, fine-tune a pretrained model on scikit-learn's digits, evaluate, predict.")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write the images and the run (default: ./hub-demo)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (for tests)")
    p.set_defaults(func=demo_command)


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="DIR", help="image folder with one sub-folder per class, or a table with --label")
    p.add_argument("--val", default=None, metavar="DIR", help="validation image folder (or table)")
    p.add_argument("--label", default=None, metavar="COLUMN",
                   help="tabular data: --data is a CSV, UCI .data or parquet file and COLUMN the target")
    p.add_argument("--spec", default=None, metavar="JSON", help="tabular feature spec (default: inferred from --data)")
    p.add_argument("--val-split", type=float, default=None, help="hold out this fraction of --data instead")
    p.add_argument("--image-size", type=int, default=None, help="square input size (default: the model's)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--strict", action="store_true", help="fail on unreadable files instead of skipping them")


def load_training_data(args, model: Any) -> tuple[Any, Any]:
    """``(train, validation)`` datasets for the ``--data``/``--val``/``--val-split`` options."""
    from hub_core import data
    from hub_core.errors import InvalidArgumentError

    if args.val and args.val_split:
        raise InvalidArgumentError("Pass either --val or --val-split, not both.")
    if args.label:
        return _table_data(args)
    size = (args.image_size, args.image_size) if args.image_size else None
    common = dict(model=model, image_size=size, batch_size=args.batch_size, seed=args.seed, strict=args.strict)
    augment = getattr(args, "augment", False) or None
    if args.val_split:
        return data.image_folder(args.data, validation_split=args.val_split, augment=augment, **common)
    train = data.image_folder(args.data, augment=augment, **common)
    validation = data.image_folder(args.val, shuffle=False, class_names=train.class_names, **common) if args.val else None
    return train, validation


def _table_data(args) -> tuple[Any, Any]:
    """``(train, validation)`` tables (:func:`hub_core.tabular.table`) for ``--label``."""
    from hub_core import tabular

    common = dict(label=args.label, batch_size=args.batch_size, seed=args.seed)
    if args.val_split:
        return tabular.table(args.data, spec=args.spec, validation_split=args.val_split, **common)
    train = tabular.table(args.data, spec=args.spec, **common)
    validation = tabular.table(args.val, spec=train.spec, shuffle=False, **common) if args.val else None
    return train, validation


def fit_command(args) -> int:
    """Run ``hub fine-tune`` or ``hub train`` and print the result."""
    import hub_core as hub

    hub.training.check_optimizer(args.model, args.optimizer)  # before reading data: a wrong name fails at once
    train, validation = load_training_data(args, args.model)
    options = dict(
        epochs=args.epochs, learning_rate=args.lr, weights=args.weights, run_dir=args.out, resume=not args.no_resume,
        overwrite=args.overwrite, seed=args.seed, checkpoint_every=args.checkpoint_every, optimizer=args.optimizer,
        schedule=args.schedule, label_smoothing=args.label_smoothing, verbose=0 if args.quiet else 1,
        jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
    )
    if args.mode == "fine-tune":
        options.update(strategy=args.strategy, unfreeze=args.unfreeze, layer_decay=args.layer_decay,
                       cache_features={"auto": "auto", "on": True, "off": False}[args.cache_features],
                       feature_cache_dir=args.feature_cache)
        result = hub.fine_tune(args.model, train, validation, **options)
    else:
        result = hub.train(args.model, train, validation, **options)
    print_table(sorted((k, f"{v:.4f}") for k, v in result.final.items()), ("METRIC", "FINAL"))
    if result.best:
        print(f"best {result.best['monitor']} = {result.best['value']:.4f} at epoch {result.best['epoch']}")
    print(f"run directory: {result.run_dir}")
    return 0


def evaluate_command(args) -> int:
    """Run ``hub evaluate`` and print the metrics."""
    import hub_core as hub
    from hub_core import data

    model = hub.load(args.model)
    names = getattr(model, "class_names", None) or None
    if args.label:
        from hub_core import tabular

        dataset = tabular.table(args.data, label=args.label, spec=args.spec, batch_size=args.batch_size, shuffle=False)
    else:
        dataset = data.image_folder(args.data, model=model, batch_size=args.batch_size, shuffle=False, class_names=names)
    result = hub.evaluate(model, dataset, top_k=args.top_k)
    if args.json:
        print_json(result)
        return 0
    rows = [(k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in result.items() if not isinstance(v, (list, dict))]
    print_table(rows, ("METRIC", "VALUE"))
    if "confusion_matrix" in result:
        labels = result.get("class_names") or [str(i) for i in range(len(result["confusion_matrix"]))]
        print("confusion matrix (rows: true class, columns: predicted):")
        print_table([[labels[i], *row] for i, row in enumerate(result["confusion_matrix"])], ["", *labels])
    return 0


def export_command(args) -> int:
    """Run ``hub export`` and print where the export is."""
    from hub_core.exporting import SUFFIXES, export

    out = args.out
    if out is None:
        base = pathlib.Path(args.model)
        base = base if base.is_dir() else base.parent
        out = base / "export" / f"model{SUFFIXES[args.format]}"
    report = export(args.model, out, format=args.format, quantize=args.quantize, calibration=args.calibration)
    if args.quantize:
        print(f"exported {args.format} {args.quantize} to {report['path']} (reloaded; mean cosine of its "
              f"{report['compared']} to the model's {report['cosine']:.4f}, smallest {report['smallest_cosine']:.4f}, "
              f"on {report['calibration_images']} calibration images)")
    else:
        print(f"exported {args.format} to {report['path']} (reloaded; max abs difference {report['max_abs_diff']:.2e})")
    return 0


def demo_command(args) -> int:
    """Run ``hub demo``."""
    from hub_core import demo

    demo.run(out=args.out, quick=args.quick)
    return 0
