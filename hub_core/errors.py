"""Errors raised by hub_core. Each message is one sentence meant for people."""

from __future__ import annotations

import difflib
from typing import Iterable


class HubError(Exception):
    """Base class of every error hub_core raises on purpose.

    The CLI prints ``str(error)`` as one line and exits non-zero.
    """


class UnknownNameError(HubError, KeyError):
    """A model, plugin, variant or weight-set name that is not known."""

    def __str__(self) -> str:  # KeyError would quote the message.
        return str(self.args[0])


class AmbiguousNameError(HubError, LookupError):
    """A model name that several plugins declare; the qualified form ``PLUGIN:MODEL`` picks one."""


class PluginError(HubError):
    """A plugin could not be imported, is not a plugin, or failed to build."""


class PluginConflictError(HubError):
    """Two distributions register the same plugin name."""


class WeightsError(HubError):
    """Weights could not be fetched, verified, read or applied."""


class ChecksumError(WeightsError):
    """A downloaded or cached file does not have the expected hash."""


class OfflineError(WeightsError):
    """A file is needed from the network while ``HUB_CORE_OFFLINE=1``."""


class InvalidArgumentError(HubError, ValueError):
    """Builder or API arguments that conflict or are out of range."""


class DataError(HubError, ValueError):
    """Input data that cannot be read or does not match what is expected."""


class ImageTooLargeError(DataError):
    """An image over the decompression-bomb limit of its pixels (or an upload over its byte limit)."""


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ' Did you mean: a, b?' for the close matches of ``name``, or ''."""
    matches = difflib.get_close_matches(str(name), sorted(set(candidates)), n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def unknown(kind: str, name: str, candidates: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the standard 'unknown X' error with close-match suggestions."""
    candidates = list(candidates)
    message = f"Unknown {kind} '{name}'.{did_you_mean(name, candidates)}"
    if hint:
        message += f" {hint}"
    return UnknownNameError(message)
