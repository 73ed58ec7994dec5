"""The catalog: every plugin's metadata as data, merged from three sources, and the names it resolves.

* ``registry.json`` describes the built-in plugins; ``python -m hub_core.hub.catalog --write``
  generates it from their metadata and a test checks it stays in sync.
* A third-party distribution ships the same data as ``hub_catalog.json`` inside its plugin's
  top-level package (``python -m hub_core.hub.catalog --plugin NAME --out PATH`` writes it; the
  conformance kit checks it matches the plugin class). It is read from the distribution's files,
  so listing runs no plugin code; a plugin without it is imported to read its metadata.
* ``HUB_CORE_REGISTRY`` (paths separated by ``os.pathsep``) adds or overrides entries,
  deep-merged over both in order.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import importlib.metadata
import json
import os
import pathlib
import sys
from typing import Any

from hub_core import config
from hub_core.errors import AmbiguousNameError, HubError, PluginConflictError, PluginError, unknown
from hub_core.hub import registry
from hub_core.hub.spec import CARD_BUDGET

CATALOG_PATH = pathlib.Path(__file__).parent.parent / "registry.json"
SCHEMA_PATH = pathlib.Path(__file__).parent.parent / "registry.schema.json"
SCHEMA_VERSION = 1
BUILTIN_PACKAGE = "hub_plugins"

DATA_FILE = "hub_catalog.json"
DATA_FILE_BUDGET = 1 << 20  # bytes: a plugin's catalog data is metadata, never this large
QUALIFIER = ":"  # PLUGIN:MODEL; plugin names are identifiers, so it is never a path, a URL or a plain model name

_entries: dict[str, Any] = {}


def read(path: str | os.PathLike) -> dict[str, Any]:
    """Read one catalog file, with a readable error for bad JSON."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubError(f"Catalog file {path} does not exist; fix {config.REGISTRY.name} or create the file.") from None
    except json.JSONDecodeError as error:
        raise HubError(f"Catalog file {path} is not valid JSON ({error}); fix the file.") from None
    if not isinstance(data, dict) or not isinstance(data.get("plugins"), dict):
        raise HubError(f"Catalog file {path} has no 'plugins' object; see registry.schema.json for the layout.")
    return data


def merge(base: Any, overlay: Any) -> Any:
    """Deep-merge ``overlay`` into a copy of ``base`` (dicts merge, the rest replaces)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return overlay


def builtin() -> dict[str, Any]:
    """The catalog shipped with hub_core (``registry.json``)."""
    return read(CATALOG_PATH)


def overlays() -> dict[str, Any]:
    """Every ``HUB_CORE_REGISTRY`` file deep-merged in order (``{"plugins": {}}`` when unset)."""
    data: dict[str, Any] = {"plugins": {}}
    for path in config.registry_paths():
        data = merge(data, read(path))
    return data


def weight_set_from_entry(name: str, entry: dict[str, Any]):
    """Rebuild a :class:`~hub_core.hub.plugin.WeightSet` from its catalog entry."""
    from hub_core.hub.spec import WeightFile, WeightSet

    return WeightSet(
        name=name,
        files=tuple(WeightFile(**f) for f in entry.get("files", ())),
        license=entry.get("license", "unknown"),
        description=entry.get("description", ""),
        format=entry.get("format", "keras_h5"),
        num_classes=entry.get("num_classes"),
        published=entry.get("published", True),
        note=entry.get("note", ""),
        source=entry.get("source", ""),
    )


def refresh() -> None:
    """Forget the cached catalog entries and the registry's plugins (after installing or removing plugins)."""
    _entries.clear()
    registry.refresh()


def entry(name: str) -> dict[str, Any]:
    """The catalog entry of one registered plugin, with its distribution and version.

    Built-in plugins are described by ``registry.json``; a plugin it does not
    describe (a third party's) is imported to read its metadata. Entries of
    ``HUB_CORE_REGISTRY`` files are then merged over both.

    Raises:
        UnknownNameError: When no plugin has that name.
        PluginError: When an undescribed plugin cannot be imported.
        PluginConflictError: When several distributions register the name and none is pinned.
    """
    if name not in _entries:
        if name in registry.conflicts():
            raise PluginConflictError(registry.conflict_message(name, registry.conflicts()[name]))
        registration = registry.registrations().get(name)
        if registration is None:
            raise unknown("plugin", name, registry.registrations(), "Run 'hub plugins' to see the installed plugins.")
        if registration.value.startswith(BUILTIN_PACKAGE + "."):
            described = builtin()["plugins"].get(name)
        else:
            described = distribution_entry(registration)
        described = described or registry.get_plugin(name).catalog_entry()
        merged = merge(described, overlays()["plugins"].get(name, {}))
        _entries[name] = dict(merged, distribution=registration.distribution, version=registration.version)
    return _entries[name]


def distribution_entry(registration) -> dict[str, Any] | None:
    """The plugin's entry from the ``hub_catalog.json`` its distribution ships, or None when it ships none.

    The file is found in the distribution's file list, inside the top-level
    package of the entry point's module, and read as data (no import).

    Raises:
        PluginError: When the file is over the size budget, is not valid JSON or does not describe the
            plugin (listing then leaves that plugin out, like a broken one).
    """
    package = registration.value.split(":", 1)[0].split(".", 1)[0]
    try:
        dist = importlib.metadata.distribution(registration.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    wanted = [f for f in dist.files or () if f.name == DATA_FILE and f.parts[0] == package]
    if not wanted:
        return None
    path = pathlib.Path(str(dist.locate_file(wanted[0])))
    if path.stat().st_size > DATA_FILE_BUDGET:
        raise PluginError(f"Catalog data {path} of '{registration.distribution}' is {path.stat().st_size} bytes, over the "
                       f"{DATA_FILE_BUDGET}-byte budget for metadata; regenerate it with python -m hub_core.hub.catalog.")
    try:
        described = read(path)["plugins"].get(registration.name)
    except HubError as error:
        raise PluginError(f"Plugin '{registration.name}' of '{registration.distribution}' ships bad catalog data: {error}") from None
    if described is None:
        raise PluginError(f"Catalog data {path} of '{registration.distribution}' does not describe plugin "
                       f"'{registration.name}'; regenerate it with: python -m hub_core.hub.catalog --plugin "
                       f"{registration.name} --out {path}")
    variants = described.get("variants") if isinstance(described, dict) else None
    for variant_name, variant in (variants.items() if isinstance(variants, dict) else ()):
        if isinstance(variant, dict) and len(str(variant.get("card", "")).encode("utf-8")) > CARD_BUDGET:
            raise PluginError(f"The model card of '{variant_name}' in {path} of '{registration.distribution}' is over the "
                           f"{CARD_BUDGET}-byte budget of a card; ship a shorter card.")
    return described


def entries() -> dict[str, Any]:
    """The catalog of every registered plugin that loads: ``{plugin: entry}``.

    Broken plugins are left out (see :func:`plugin_status`).
    """
    result: dict[str, Any] = {}
    for name in registry.registrations():
        try:
            result[name] = entry(name)
        except PluginError:
            continue
    return result


def qualified(plugin_name: str, model: str) -> str:
    """The qualified model name ``PLUGIN:MODEL``, which always resolves to that plugin's model."""
    return f"{plugin_name}{QUALIFIER}{model}"


def _declaring(model: str) -> list[str]:
    """The plugins (sorted) whose catalog entries declare a variant called ``model``."""
    return sorted(name for name, plugin_entry in entries().items() if model in plugin_entry["variants"])


def resolve(name: str) -> tuple[str, str]:
    """Map a model name, a plugin name or a qualified ``PLUGIN:MODEL`` to ``(plugin, variant)``.

    A plugin name means its default variant, and is resolved without looking at
    any other plugin. A model name that two plugins declare never resolves to
    either: write it qualified.

    Raises:
        UnknownNameError: With close matches, when nothing has that name.
        AmbiguousNameError: When several plugins declare the model, naming the qualified forms.
        PluginError: When the named plugin is broken.
        PluginConflictError: When several distributions register the named plugin.
    """
    if QUALIFIER in name:
        plugin_name, _, model = name.partition(QUALIFIER)
        variants = entry(plugin_name)["variants"]
        if model not in variants:
            raise unknown(f"model of plugin '{plugin_name}'", model, variants, f"It has: {', '.join(variants)}.")
        return plugin_name, model
    if name in registry.registrations() or name in registry.conflicts():
        return name, entry(name)["default_variant"]
    owners = _declaring(name)
    if len(owners) > 1:
        forms = " or ".join(repr(qualified(owner, name)) for owner in owners)
        raise AmbiguousNameError(f"Model name '{name}' is declared by the plugins {', '.join(owners)}; write {forms}.")
    if owners:
        return owners[0], name
    known_entries = entries()
    known = list(known_entries) + [v for e in known_entries.values() for v in e["variants"]]
    raise unknown("model", name, known, "Run 'hub list' to see the available models.")


def list_models(pattern: str | None = None, *, task: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Sorted model (variant) names, filtered by fnmatch pattern, task and weights.

    A model name that several plugins declare is listed once per plugin, in
    the qualified form ``PLUGIN:MODEL`` that loads it.
    """
    declared = collections.Counter(v for plugin_entry in entries().values() for v in plugin_entry["variants"])
    names = []
    for plugin_name, plugin_entry in entries().items():
        if task is not None and plugin_entry["task"] != task:
            continue
        for variant_name, variant in plugin_entry["variants"].items():
            if pattern is not None and not fnmatch.fnmatch(variant_name, pattern):
                continue
            has_weights = any(w["published"] or w["source"] for w in variant["weights"].values())
            if pretrained is not None and has_weights != pretrained:
                continue
            names.append(qualified(plugin_name, variant_name) if declared[variant_name] > 1 else variant_name)
    return sorted(names)


def info(name: str) -> dict[str, Any]:
    """The catalog entry of a model or plugin, with its distribution and version."""
    plugin_name, variant_name = resolve(name)
    plugin_entry = entry(plugin_name)
    return dict(plugin_entry, plugin=plugin_name, model=variant_name, variant=plugin_entry["variants"][variant_name])


def generate(plugin_names: list[str] | None = None) -> dict[str, Any]:
    """Build the catalog from the registered plugins of this distribution."""
    regs = registry.registrations()
    names = plugin_names or [n for n, r in regs.items() if r.value.startswith(BUILTIN_PACKAGE + ".")]
    entries = {}
    for name in sorted(names):
        try:
            entries[name] = registry.get_plugin(name).catalog_entry()
        except HubError as error:
            print(f"skipping broken plugin: {error}", file=sys.stderr)
    return {"schema_version": SCHEMA_VERSION, "plugins": entries}


def plugin_data(name: str) -> dict[str, Any]:
    """The ``hub_catalog.json`` content of one plugin, from its class's metadata."""
    return {"schema_version": SCHEMA_VERSION, "plugins": {name: registry.get_plugin(name).catalog_entry()}}


def dumps(data: dict[str, Any]) -> str:
    """Serialise a catalog the way ``registry.json`` is written."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m hub_core.hub.catalog [--write | --plugin NAME --out PATH]``.

    Without arguments, check that registry.json is current; ``--write`` regenerates it;
    ``--plugin NAME --out PATH`` writes a third-party plugin's ``hub_catalog.json``.
    """
    parser = argparse.ArgumentParser(prog="python -m hub_core.hub.catalog", description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate registry.json from the plugins")
    parser.add_argument("--plugin", metavar="NAME", help="write the catalog data of this (third-party) plugin")
    parser.add_argument("--out", metavar="PATH", help=f"with --plugin: where to write it (its package's {DATA_FILE})")
    args = parser.parse_args(argv)
    if args.plugin:
        if not args.out:
            parser.error("--plugin needs --out PATH")
        pathlib.Path(args.out).write_text(dumps(plugin_data(args.plugin)), encoding="utf-8")
        print(f"wrote {args.out}")
        return 0
    text = dumps(generate())
    if args.write:
        CATALOG_PATH.resolve().write_text(text, encoding="utf-8")
        print(f"wrote {CATALOG_PATH.resolve()}")
        return 0
    if CATALOG_PATH.read_text(encoding="utf-8") != text:
        print("registry.json is out of date; run: python -m hub_core.hub.catalog --write", file=sys.stderr)
        return 1
    print("registry.json is in sync with the plugins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
