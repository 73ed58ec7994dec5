"""The ``hub`` command line.

Each area of the core contributes its subcommands through a ``register``
function in one module listed in ``COMMAND_MODULES``; modules are imported
when the parser is built, and they must stay light (no TensorFlow at import).

Installed distributions (the built-in plugins among them) add commands through
the ``hub_core.commands`` entry-point group: each entry point is named after
its command and names a ``register(subparsers)`` function that adds that
command. Only their names are read when the parser is built (metadata, no
import); a plugin's module is imported when its command runs (after TensorFlow,
imported quietly) or when the full command list is printed (``hub``,
``hub --help``). So ``hub list`` runs no plugin code. A plugin command whose
name the core or another distribution also uses is left out with a warning;
one whose module cannot be imported stays listed, and running it prints why.

Errors print one line on stderr and exit non-zero, a file the system refuses
(permissions, a full disk) included; Python warnings print as one
``hub: warning:`` line each. Set ``HUB_CORE_DEBUG=1`` for a traceback and
Python's own warning format.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import warnings
from typing import Any, Sequence

from hub_core import config, console
from hub_core.errors import HubError, PluginError
from hub_core.hub import extensions

COMMAND_MODULES = (
    "hub_core.cli.catalog",
    "hub_core.cli.cache",
    "hub_core.cli.predict",
    "hub_core.cli.training",
    "hub_core.cli.publish",
    "hub_core.cli.serve",
    "hub_core.cli.data",
    "hub_core.cli.sweep",
)
# Modules whose commands never import TensorFlow (the others import it up front, quietly); this module's
# are the stand-ins of plugin commands that could not be loaded.
LIGHT_COMMAND_MODULES = ("hub_core.cli.catalog", "hub_core.cli.cache", "hub_core.cli.data", __name__)
HELP_FLAGS = ("-h", "--help")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``hub`` parser with the core's subcommands and the installed distributions'.

    Args:
        argv: The arguments about to be parsed. Of the distributions' commands,
            only the one they name is imported; every one is when they name none
            (``hub``, ``hub --help``: the full help), and when ``argv`` is None.
    """
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
    _add_plugin_commands(subparsers, _command_in(argv or ()))
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand that ``argv`` runs, or None for the full help (``hub`` itself takes no option but ``-h``)."""
    for arg in argv:
        if arg in HELP_FLAGS:
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _add_plugin_commands(subparsers, command: str | None) -> None:
    """Add the ``hub_core.commands`` entry points: ``command``'s alone, or all of them when it is None."""
    core = set(subparsers.choices)
    for name, offers in extensions.offered(extensions.COMMANDS_GROUP).items():
        if name in core:
            owners = " and ".join(offer.distribution for offer in offers)
            _warn(f"The command '{name}' of {owners} is left out because hub-core has its own 'hub {name}'; "
                  f"ask {owners} to rename it.")
        elif len(offers) > 1:
            _warn(extensions.clash("command", offers))
        elif command in (None, name):
            if command == name:
                _import_tensorflow_quietly()  # before the plugin's module, as for the core's commands
            _register(subparsers, offers[0])


def _register(subparsers, offer: extensions.Extension) -> None:
    """Let ``offer`` add its command; if it cannot, add a stand-in that says why when run."""
    try:
        offer.load()(subparsers)
        if offer.name in subparsers.choices:
            return
        message = (f"{offer.distribution}'s register function {offer.entry_point.value} added no command "
                   f"'{offer.name}'; it must add the command its entry point is named after.")
    except HubError as error:
        message = str(error)
    except Exception as error:  # the register function itself failed
        message = (f"{offer.distribution}'s register function {offer.entry_point.value} failed: "
                   f"{type(error).__name__}: {error}; fix or reinstall {offer.distribution}.")
    stand_in = subparsers.choices.get(offer.name)
    if stand_in is None:
        stand_in = subparsers.add_parser(offer.name, help=f"(unavailable) {message}", description=message)
        stand_in.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def unavailable(args) -> int:
        raise PluginError(message)

    stand_in.set_defaults(func=unavailable)


def _warn(message: str) -> None:
    print(f"hub: warning: {message}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a Python warning as one line, without the source line Python would print (``warnings.showwarning``)."""
    _warn(" ".join(str(message).split()))


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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.func.__module__ not in LIGHT_COMMAND_MODULES:
        _import_tensorflow_quietly()
    try:
        with warnings.catch_warnings():
            if not config.debug():
                warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("hub: interrupted", file=sys.stderr)
        return 130
    except HubError as error:
        _report(error)
        return 1
    except Exception as error:  # never show a traceback to a user
        _report(error, _unexpected(error))
        return 1


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and find its devices with their native start-up lines discarded.

    TensorFlow logs through absl before absl's logging is initialised, so
    ``TF_CPP_MIN_LOG_LEVEL`` cannot silence those lines (nor the CUDA probe's,
    which comes with the first device lookup); :mod:`hub_core.console` keeps
    them off the terminal. An import failure is left for the command itself
    to report.
    """
    if "tensorflow" in sys.modules:
        return
    with console.native_stderr_silenced():
        try:
            import tensorflow as tf
        except ImportError:
            return
        tf.config.list_physical_devices()


def _unexpected(error: Exception) -> str:
    """The line for an error that is not a HubError: a hub error that it carries, a file the system refused
    in words, else its type and text."""
    carried = _carried_hub_error(str(error))
    if carried:
        return carried
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        reason = error.strerror[0].lower() + error.strerror[1:]
        return (f"{error.filename} could not be read or written ({reason}); check the permissions of its folder "
                "and the free disk space, or choose another path.")
    return f"{type(error).__name__}: {error}"


def _carried_hub_error(text: str) -> str | None:
    """The message of a hub error raised inside a library that reports it in its own error, traceback and all.

    A ``tf.data`` pipeline does that with the errors of the Python functions it
    runs (an image that became unreadable after the folder scan, say).
    """
    names = set()
    pending = [HubError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    pattern = rf"\b(?:{'|'.join(sorted(names))}): (.+?)\s*Traceback \(most recent call last\)"
    match = re.search(pattern, text, re.DOTALL)
    return match.group(1) if match else None


def _report(error: BaseException, message: str | None = None) -> None:
    if config.debug():
        import traceback

        traceback.print_exception(error)
    message = " ".join((message or str(error)).split()) or type(error).__name__
    print(f"hub: error: {message}", file=sys.stderr)
