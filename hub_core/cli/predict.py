"""``hub predict``: classify images with a catalog model or a run directory."""

from __future__ import annotations

import sys

from hub_core.cli.main import print_json, print_table


def register(subparsers) -> None:
    """Add the ``predict`` subcommand."""
    from hub_core.exporting.engines import ENGINES

    p = subparsers.add_parser(
        "predict",
        help="classify images",
        description="Classify images with a catalog model name, a run directory or a .keras file.",
    )
    p.add_argument("model", metavar="NAME_OR_RUN_DIR")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--weights", default=None, help="weight set, path or URL (catalog models only)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="inference engine (default auto: the fastest installed engine that agrees with Keras)")
    p.set_defaults(func=predict_command)


def predict_command(args) -> int:
    """Classify each image with :func:`hub_core.training.predict` and print the top classes."""
    import hub_core as hub
    from hub_core.errors import InvalidArgumentError

    if args.top < 1:
        raise InvalidArgumentError(f"--top must be at least 1, got {args.top}.")
    results = hub.predict(args.model, args.images, top_k=args.top, engine=args.engine,
                          weights="default" if args.weights is None else args.weights)
    if not isinstance(results, list):
        raise InvalidArgumentError(
            f"Model '{args.model}' does not output class scores; predict needs a classifier (include_top=True)."
        )
    if args.json:
        print_json(results)
    else:
        print(f"engine: {results[0]['engine']}", file=sys.stderr)
        for result in results:
            print(result["image"])
            if "top" not in result:  # outputs the model's plugin decoded
                print(result["label"])
                continue
            print_table([(r["rank"], r["label"], f"{r['score']:.4f}") for r in result["top"]], ("RANK", "CLASS", "SCORE"))
    return 0
