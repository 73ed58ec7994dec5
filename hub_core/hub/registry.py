"""Plugin discovery over entry points: lazy, failure-isolated, conflict-aware.

Listing reads entry-point metadata and the catalog only. A plugin module is
imported when that plugin is loaded, or when it is a third-party plugin that
the catalog does not describe (its module must then be light to import).

A plugin name registered by two distributions is a conflict that affects that
name only: the other plugins keep working, ``hub plugins`` shows each claimant,
and loading the name fails with a sentence naming both, until
``HUB_CORE_PLUGIN_PINS`` (``NAME=DISTRIBUTION``, comma-separated) says which
distribution serves it.
"""

from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass
from typing import Any

from hub_core import config
from hub_core.errors import HubError, PluginConflictError, PluginError, unknown
from hub_core.hub import extensions

ENTRY_POINT_GROUP = "hub_core.plugins"
# Versions of the plugin contract (``ModelPlugin.api_version``) this hub can load.
SUPPORTED_API_VERSIONS = (1,)

_instances: dict[str, Any] = {}
_failures: dict[str, str] = {}
_registrations: dict[str, Registration] = {}
_conflicts: dict[str, list[Registration]] = {}


@dataclass(frozen=True)
class Registration:
    """One entry point of the ``hub_core.plugins`` group."""

    name: str
    value: str
    distribution: str
    version: str


def refresh() -> None:
    """Forget every loaded plugin and the cached entry-point scan (after installs)."""
    _instances.clear()
    _failures.clear()
    _registrations.clear()
    _conflicts.clear()


def registrations() -> dict[str, Registration]:
    """Every plugin name that one distribution serves, read from metadata without importing.

    A name registered by several distributions is left out unless
    ``HUB_CORE_PLUGIN_PINS`` pins it to one of them (see :func:`conflicts`).
    The result is cached until :func:`refresh`.
    """
    if not _registrations and not _conflicts:
        _scan()
    return _registrations


def conflicts() -> dict[str, list[Registration]]:
    """Plugin names registered by several distributions and not pinned: ``{name: [claimants]}``."""
    if not _registrations and not _conflicts:
        _scan()
    return _conflicts


def pins() -> dict[str, str]:
    """``HUB_CORE_PLUGIN_PINS`` as ``{plugin name: distribution}``.

    Raises:
        PluginConflictError: When the setting is malformed.
    """
    try:
        return config.plugin_pins()
    except ValueError as error:
        raise PluginConflictError(str(error)) from None


def conflict_message(name: str, claimants: list[Registration]) -> str:
    """The sentence that explains a plugin-name conflict and how to resolve it."""
    owners = " and ".join(f"'{r.distribution}' ({r.value})" for r in claimants)
    return (f"Plugin name '{name}' is registered by both {owners}; set {config.PLUGIN_PINS.name}={name}={claimants[0].distribution} "
            "(or the other distribution) to choose, or uninstall one of them.")


def _scan() -> None:
    found = {name: [Registration(name, offer.entry_point.value, offer.distribution, offer.version) for offer in offers]
             for name, offers in extensions.offered(ENTRY_POINT_GROUP).items()}
    pinned = pins()
    for name, claimants in sorted(found.items()):
        if len(claimants) > 1 and name in pinned:
            chosen = [r for r in claimants if r.distribution == pinned[name]]
            if not chosen:
                raise PluginConflictError(
                    f"{config.PLUGIN_PINS.name} pins '{name}' to '{pinned[name]}', which does not register it; "
                    f"pick one of {', '.join(repr(r.distribution) for r in claimants)}."
                )
            claimants = chosen
        if len(claimants) > 1:
            _conflicts[name] = claimants
        else:
            _registrations[name] = claimants[0]


def get_plugin(name: str):
    """Import and instantiate one plugin by its entry-point name.

    Only that plugin's module is imported: the entry point of its registration.

    Raises:
        UnknownNameError: When no plugin has that name.
        PluginError: When the plugin cannot be imported or is not a plugin.
        PluginConflictError: When several distributions register ``name`` and none is pinned.
    """
    if name in _instances:
        return _instances[name]
    regs = registrations()
    if name in conflicts():
        raise PluginConflictError(conflict_message(name, conflicts()[name]))
    if name not in regs:
        raise unknown("plugin", name, regs, "Run 'hub plugins' to see the installed plugins.")
    if name in _failures:
        raise PluginError(_failures[name])
    registration = regs[name]
    try:
        plugin = _import_plugin(registration)
    except PluginError as error:
        _failures[name] = str(error)
        raise
    _instances[name] = plugin
    return plugin


def _import_plugin(registration: Registration):
    """Import exactly this registration's entry point (a pinned name has several; stevedore would refuse it)."""
    from hub_core.hub.plugin import ModelPlugin

    where = f"plugin '{registration.name}' from '{registration.distribution}' ({registration.value})"
    try:
        cls = metadata.EntryPoint(registration.name, registration.value, ENTRY_POINT_GROUP).load()
    except Exception as error:
        raise PluginError(f"Could not import {where}: {type(error).__name__}: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, ModelPlugin)):
        raise PluginError(
            f"The entry point of {where} is {cls!r}, not a hub_core.hub.plugin.ModelPlugin subclass; "
            "point the entry point at the plugin class."
        )
    if cls.api_version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_API_VERSIONS)
        raise PluginError(
            f"The class of {where} is written for plugin contract version {cls.api_version!r}, and this hub_core "
            f"supports version {supported}; install a release of '{registration.distribution}' for this hub_core."
        )
    try:
        plugin = cls()
    except Exception as error:
        raise PluginError(f"Could not instantiate {where}: {type(error).__name__}: {error}") from error
    if plugin.name != registration.name:
        raise PluginError(
            f"The class of {where} is named '{plugin.name}', not '{registration.name}'; "
            "make the class attribute `name` equal the entry-point name."
        )
    return plugin


def plugin_status() -> list[dict[str, str]]:
    """Every registered plugin with distribution, version, status (ok, broken, conflict) and reason.

    This imports every plugin, so a broken one is reported, not hidden; each
    claimant of a conflicting name is listed with status ``conflict``.
    """
    rows = []
    for name, claimants in conflicts().items():
        reason = conflict_message(name, claimants)
        rows += [{"name": name, "distribution": r.distribution, "version": r.version, "status": "conflict",
                  "reason": reason} for r in claimants]
    for name, registration in registrations().items():
        row = {
            "name": name,
            "distribution": registration.distribution,
            "version": registration.version,
            "status": "ok",
            "reason": "",
        }
        try:
            get_plugin(name)
        except HubError as error:
            row.update(status="broken", reason=str(error))
        rows.append(row)
    return sorted(rows, key=lambda row: (row["name"], row["distribution"]))
