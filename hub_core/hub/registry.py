"""Plugin discovery over entry points: lazy, failure-isolated, conflict-aware.

Listing reads entry-point metadata and the catalog only. A plugin module is
imported when that plugin is loaded, or when it is a third-party plugin that
the catalog does not describe (its module must then be light to import).
"""

from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass
from typing import Any

from hub_core.errors import HubError, PluginConflictError, PluginError, unknown

ENTRY_POINT_GROUP = "hub_core.plugins"

_instances: dict[str, Any] = {}
_failures: dict[str, str] = {}
_registrations: dict[str, Registration] = {}


@dataclass(frozen=True)
class Registration:
    """One entry point of the ``hub_core.plugins`` group."""

    name: str
    value: str
    distribution: str
    version: str


def refresh() -> None:
    """Forget every loaded plugin and the cached entry-point scan (after installs)."""
    from stevedore.extension import ExtensionManager

    _instances.clear()
    _failures.clear()
    _registrations.clear()
    ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)


def registrations() -> dict[str, Registration]:
    """Every registered plugin by name, read from metadata without importing.

    The result is cached until :func:`refresh`.

    Raises:
        PluginConflictError: When two distributions register the same name.
    """
    if not _registrations:
        _registrations.update(_read_registrations())
    return _registrations


def _read_registrations() -> dict[str, Registration]:
    found: dict[str, list[Registration]] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry_point, "dist", None)
        registration = Registration(
            entry_point.name,
            entry_point.value,
            dist.metadata["Name"] if dist else "unknown",
            dist.version if dist else "unknown",
        )
        others = found.setdefault(entry_point.name, [])
        if all(r.distribution != registration.distribution for r in others):
            others.append(registration)
    for name, regs in found.items():
        if len(regs) > 1:
            owners = " and ".join(f"'{r.distribution}' ({r.value})" for r in regs)
            raise PluginConflictError(
                f"Plugin name '{name}' is registered by both {owners}; "
                "uninstall one of these distributions or rename its entry point."
            )
    return {name: regs[0] for name, regs in sorted(found.items())}


def get_plugin(name: str):
    """Import and instantiate one plugin by its entry-point name.

    Only that plugin's module is imported (stevedore's ``DriverManager``).

    Raises:
        UnknownNameError: When no plugin has that name.
        PluginError: When the plugin cannot be imported or is not a plugin.
    """
    if name in _instances:
        return _instances[name]
    regs = registrations()
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
    from stevedore import driver

    from hub_core.hub.plugin import ModelPlugin

    failure: list[BaseException] = []

    def on_failure(_manager, _entry_point, error):
        failure.append(error)

    where = f"plugin '{registration.name}' from '{registration.distribution}' ({registration.value})"
    try:
        manager = driver.DriverManager(
            ENTRY_POINT_GROUP,
            registration.name,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
        cls = manager.driver
    except Exception as error:
        cause = failure[0] if failure else error
        raise PluginError(f"Could not import {where}: {type(cause).__name__}: {cause}") from cause
    if not (isinstance(cls, type) and issubclass(cls, ModelPlugin)):
        raise PluginError(
            f"The entry point of {where} is {cls!r}, not a hub_core.hub.plugin.ModelPlugin subclass; "
            "point the entry point at the plugin class."
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
    """Every registered plugin with distribution, version, status and reason.

    This imports every plugin, so a broken one is reported, not hidden.
    """
    rows = []
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
    return rows
