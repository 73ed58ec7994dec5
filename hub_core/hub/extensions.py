"""What distributions add to the hub besides models: ``hub`` commands and public functions.

Two entry-point groups, read from metadata without importing anything:

* ``hub_core.commands``: a command name -> a ``register(subparsers)`` function
  that adds that one command to ``hub`` (as the core's command modules do);
* ``hub_core.functions``: a name -> a callable that the facade offers as
  ``hub_core.<name>`` (the core's own names always win).

An entry point's module is imported only by :meth:`Extension.load`. A name
offered by two distributions is refused (:func:`clash` says why), never
resolved by installation order.
"""

from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass
from typing import Any

from hub_core.errors import PluginConflictError, PluginError

COMMANDS_GROUP = "hub_core.commands"
FUNCTIONS_GROUP = "hub_core.functions"


@dataclass(frozen=True)
class Extension:
    """One entry point of :data:`COMMANDS_GROUP` or :data:`FUNCTIONS_GROUP`."""

    entry_point: metadata.EntryPoint
    distribution: str

    @property
    def name(self) -> str:
        """The command or function name."""
        return self.entry_point.name

    @property
    def version(self) -> str:
        """The version of the distribution that offers it."""
        dist = getattr(self.entry_point, "dist", None)
        return dist.version if dist else "unknown"

    def load(self) -> Any:
        """Import the entry point's module and return its object.

        Raises:
            PluginError: When the import fails; the message names the distribution and the cause.
        """
        try:
            return self.entry_point.load()
        except Exception as error:
            raise PluginError(
                f"'{self.name}' from {self.distribution} ({self.entry_point.value}) could not be imported: "
                f"{type(error).__name__}: {error}; fix or reinstall {self.distribution}."
            ) from error


def offered(group: str) -> dict[str, list[Extension]]:
    """Every entry point of ``group`` (``hub_core.plugins`` too) by name, one per distribution, from metadata only.

    A distribution found twice on the path (an editable install seen from its
    checkout) counts once; two distributions under one name are both listed.
    """
    found: dict[str, list[Extension]] = {}
    for entry_point in metadata.entry_points(group=group):
        dist = getattr(entry_point, "dist", None)
        extension = Extension(entry_point, dist.metadata["Name"] if dist else "an unknown distribution")
        same_name = found.setdefault(entry_point.name, [])
        if all(other.distribution != extension.distribution for other in same_name):
            same_name.append(extension)
    return dict(sorted(found.items()))


def clash(kind: str, extensions: list[Extension]) -> str:
    """The sentence refusing a ``kind`` ("command", "function") that several distributions offer."""
    owners = " and ".join(sorted(extension.distribution for extension in extensions))
    return (f"The {kind} '{extensions[0].name}' is offered by both {owners}, so neither is used; "
            f"uninstall one of them or ask one to rename its {kind}.")


def function(name: str) -> Any | None:
    """The callable that a distribution offers as ``hub_core.<name>``, imported now; None when none does.

    Raises:
        PluginConflictError: When several distributions offer ``name``.
        PluginError: When its module cannot be imported.
    """
    extensions = offered(FUNCTIONS_GROUP).get(name)
    if not extensions:
        return None
    if len(extensions) > 1:
        raise PluginConflictError(clash("function", extensions))
    return extensions[0].load()
