"""The ``hub`` command line.

Each area of the hub contributes its subcommands through a ``register``
function in one module listed in ``COMMAND_MODULES``; modules are imported
when the parser is built, and they must stay light (no TensorFlow at import).
Errors print one line on stderr and exit non-zero; set ``HUB_CORE_DEBUG=1``
for a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any, Sequence

from hub_core.errors import HubError

COMMAND_MODULES = (
    "hub_core.cli.catalog",
    "hub_core.cli.cache",
    "hub_core.cli.predict",
    "hub_core.cli.training",
    "hub_core.cli.style",
)
# Command modules whose commands never import TensorFlow (the others import it up front, quietly).
LIGHT_COMMAND_MODULES = ("hub_core.cli.catalog", "hub_core.cli.cache")


def build_parser() -> argparse.ArgumentParser:
    """The ``hub`` parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="hub", description="Keras 3 model hub: list, load, fine-tune and export models.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """Print rows as an aligned plain-text table."""
    table = [list(map(str, header))] + [list(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hub`` command and return its exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter is not for users
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.func.__module__ not in LIGHT_COMMAND_MODULES:
        _import_tensorflow_quietly()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("hub: interrupted", file=sys.stderr)
        return 130
    except HubError as error:
        _report(error)
        return 1
    except Exception as error:  # never show a traceback to a user
        _report(error, f"{type(error).__name__}: ")
        return 1


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up lines discarded.

    TensorFlow logs through absl before absl's logging is initialised, so
    ``TF_CPP_MIN_LOG_LEVEL`` cannot silence those lines; stderr's file
    descriptor points at /dev/null for the import instead. Nothing is hidden
    with ``HUB_CORE_DEBUG`` set or ``TF_CPP_MIN_LOG_LEVEL=0``, and an import
    failure is left for the command itself to report.
    """
    if os.environ.get("HUB_CORE_DEBUG") or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0" or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _report(error: BaseException, prefix: str = "") -> None:
    if os.environ.get("HUB_CORE_DEBUG"):
        import traceback

        traceback.print_exception(error)
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"hub: error: {prefix}{message}", file=sys.stderr)

