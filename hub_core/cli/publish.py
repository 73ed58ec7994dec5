"""``hub card`` and ``hub publish``: a model card for a run directory, and the run as an installable plugin wheel.

Examples::

    hub card runs/digits --data digits/test
    hub publish runs/digits --name digits-tiny --version 1.0.0 --out dist
"""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the ``card`` and ``publish`` subcommands."""
    p = subparsers.add_parser("card", help="write a run directory's model card (RUN_DIR/README.md)",
                              description="Write RUN_DIR/README.md, a Hugging Face model card made from the run's own files.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="evaluate on this labelled image folder first (RUN_DIR/evaluation.json, the confusion matrix)")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="with --data: k of the top-k accuracy (default 5)")
    _card_arguments(p)
    p.set_defaults(func=card_command)

    p = subparsers.add_parser("publish", help="build a run directory as an installable plugin wheel",
                              description="Build, offline, the wheel of the plugin distribution hub-NAME serving the run's model.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--version", default="0.1.0", help="the distribution's version (default 0.1.0)")
    p.add_argument("--out", default="dist", metavar="DIST", help="folder for the wheel (default dist)")
    _card_arguments(p, name_required=True)
    p.set_defaults(func=publish_command)


def _card_arguments(p, *, name_required: bool = False) -> None:
    p.add_argument("--name", required=name_required, default=None,
                   help="model and plugin name" + ("" if name_required else " (default: the run directory's name)"))
    p.add_argument("--license", default=None, help="license (default: the base weights' license)")
    p.add_argument("--description", default=None, metavar="TEXT", help="one line about the model")


def card_command(args) -> int:
    """Run ``hub card`` and print where the card is."""
    from hub_core.publish import card

    path = card.write_card(args.run_dir, data=args.data, name=args.name, license=args.license,
                           description=args.description, top_k=args.top_k)
    print(f"wrote {path}")
    return 0


def publish_command(args) -> int:
    """Run ``hub publish`` and print the wheel and how to install it."""
    from hub_core.publish import package

    wheel = package.publish(args.run_dir, args.name, version=args.version, license=args.license,
                            description=args.description, out=args.out)
    print(f"built {wheel} ({wheel.stat().st_size:,} bytes); install it with: pip install {wheel}")
    return 0
