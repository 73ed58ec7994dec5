"""Plugin discovery over entry points: lazy, failure-isolated, conflict-aware.

Listing reads entry-point metadata and the catalog only. A plugin module is
imported when that plugin is loaded, or when it is a third-party plugin that
the catalog does not describe (its module must then be light to import).
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as metadata
from dataclasses import dataclass
from typing import Any

from hub_core.errors import HubError, PluginConflictError, PluginError, unknown

ENTRY_POINT_GROUP = "hub_core.plugins"

_instances: dict[str, Any] = {}
_failures: dict[str, str] = {}
_entries: dict[str, Any] = {}
_registrations: dict[str, Registration] = {}


@dataclass(frozen=True)
class Registration:
    """One entry point of the ``hub_core.plugins`` group."""

    name: str
    value: str
    distribution: str
    version: str


def refresh() -> None:
    """Forget every loaded plugin and the cached catalog (after installs)."""
    from stevedore.extension import ExtensionManager

    _instances.clear()
    _failures.clear()
    _entries.clear()
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


def entry(name: str) -> dict[str, Any]:
    """The catalog entry of one registered plugin, with its distribution and version.

    Built-in plugins are described by ``registry.json``; a plugin it does not
    describe (a third party's) is imported to read its metadata. Entries of
    ``HUB_CORE_REGISTRY`` files are then merged over both.

    Raises:
        UnknownNameError: When no plugin has that name.
        PluginError: When an undescribed plugin cannot be imported.
    """
    if name not in _entries:
        registration = registrations().get(name)
        if registration is None:
            raise unknown("plugin", name, registrations(), "Run 'hub plugins' to see the installed plugins.")
        from hub_core.hub import catalog as catalog_module  # late: `python -m hub_core.hub.catalog` runs it as __main__

        described = catalog_module.builtin()["plugins"].get(name) or get_plugin(name).catalog_entry()
        merged = catalog_module.merge(described, catalog_module.overlays()["plugins"].get(name, {}))
        _entries[name] = dict(merged, distribution=registration.distribution, version=registration.version)
    return _entries[name]


def catalog() -> dict[str, Any]:
    """The catalog of every registered plugin that loads: ``{plugin: entry}``.

    Broken plugins are left out (see :func:`plugin_status`).
    """
    result: dict[str, Any] = {}
    for name in registrations():
        try:
            result[name] = entry(name)
        except PluginError:
            continue
    return result


def resolve(name: str) -> tuple[str, str]:
    """Map a model or plugin name to ``(plugin, variant)``.

    A plugin name is resolved without looking at any other plugin.

    Raises:
        UnknownNameError: With close matches, when nothing has that name.
        PluginError: When the named plugin is broken.
    """
    if name in registrations():
        return name, entry(name)["default_variant"]
    entries = catalog()
    for plugin_name, plugin_entry in entries.items():
        if name in plugin_entry["variants"]:
            return plugin_name, name
    known = list(entries) + [v for e in entries.values() for v in e["variants"]]
    raise unknown("model", name, known, "Run 'hub list' to see the available models.")


def list_models(pattern: str | None = None, *, task: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Sorted model (variant) names, filtered by fnmatch pattern, task and weights."""
    names = []
    for entry in catalog().values():
        if task is not None and entry["task"] != task:
            continue
        for variant_name, variant in entry["variants"].items():
            if pattern is not None and not fnmatch.fnmatch(variant_name, pattern):
                continue
            has_weights = any(w["published"] or w["source"] for w in variant["weights"].values())
            if pretrained is not None and has_weights != pretrained:
                continue
            names.append(variant_name)
    return sorted(names)


def info(name: str) -> dict[str, Any]:
    """The catalog entry of a model or plugin, with its distribution and version."""
    plugin_name, variant_name = resolve(name)
    plugin_entry = entry(plugin_name)
    return dict(plugin_entry, plugin=plugin_name, model=variant_name, variant=plugin_entry["variants"][variant_name])


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
