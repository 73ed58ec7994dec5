"""The catalog as the pages and the JSON API show it: every model, broken plugins and clashes included."""

from __future__ import annotations

import collections
import dataclasses
import importlib.metadata
import re
from typing import Any

from hub_core.errors import DataError, HubError
from hub_core.hub import catalog, registry


def models() -> list[dict[str, Any]]:
    """One row per model of every plugin that loads, then one per broken or clashing plugin.

    Returns:
        Rows with ``name`` (qualified when several plugins declare it), ``plugin``, ``distribution``, ``task``,
        ``params``, ``weights`` (set names), ``licenses``, ``paper``, ``pretrained``, ``clash`` (why the name is
        qualified, or "") and ``status`` (``"ok"``, ``"broken"`` or ``"conflict"``, with ``reason``).
    """
    rows, problems = [], []
    plugin_entries = {}
    for name in registry.registrations():
        try:
            plugin_entries[name] = catalog.entry(name)
        except HubError as error:
            problems.append(_problem(name, registry.registrations()[name].distribution, "broken", str(error)))
    for name, claimants in registry.conflicts().items():
        problems.append(_problem(name, ", ".join(r.distribution for r in claimants), "conflict",
                                 registry.conflict_message(name, claimants)))
    declared = collections.Counter(v for entry in plugin_entries.values() for v in entry["variants"])
    for plugin_name, entry in plugin_entries.items():
        for variant_name, variant in entry["variants"].items():
            clash = declared[variant_name] > 1
            weights = variant["weights"]
            rows.append({
                "name": catalog.qualified(plugin_name, variant_name) if clash else variant_name,
                "plugin": plugin_name,
                "distribution": entry["distribution"],
                "task": entry["task"],
                "params": variant["num_params"],
                "weights": sorted(weights),
                "licenses": sorted({w["license"] for w in weights.values()}) or [entry["license"]],
                "paper": entry.get("paper"),
                "pretrained": any(w["published"] or w["source"] for w in weights.values()),
                "clash": (f"'{variant_name}' is also declared by another plugin: load it as "
                          f"'{catalog.qualified(plugin_name, variant_name)}'") if clash else "",
                "status": "ok",
                "reason": "",
            })
    return sorted(rows, key=lambda row: row["name"]) + sorted(problems, key=lambda row: row["plugin"])


def _problem(plugin: str, distribution: str, status: str, reason: str) -> dict[str, Any]:
    return {"name": plugin, "plugin": plugin, "distribution": distribution, "task": None, "params": None,
            "weights": [], "licenses": [], "paper": None, "pretrained": False, "clash": "", "status": status,
            "reason": reason}


def model(name: str) -> dict[str, Any]:
    """A model's page data: its catalog entry, its variant, each weight file with whether it is cached here.

    Raises:
        HubError: When the name is unknown, ambiguous, or its plugin broken (the page shows the message).
    """
    info = catalog.info(name)
    variant = info["variant"]
    weight_sets = []
    for set_name, entry in variant["weights"].items():
        weight_set = catalog.weight_set_from_entry(set_name, entry)
        files = [dict(dataclasses.asdict(file), cached=_cached(file)) for file in weight_set.files]
        weight_sets.append({"name": set_name, **entry, "files": files, "installed": _installed_source(entry["source"])})
    return {
        **info,
        "name": name,
        "weight_sets": weight_sets,
        "snippet": f'import hub_core as hub\nmodel = hub.load("{name}")',
        "card": variant.get("card") or info.get("card"),
    }


def _cached(weight_file) -> bool:
    """Whether the file is in this machine's weights cache."""
    from hub_core.store import cache
    from hub_core.store.download import cache_name

    try:
        return cache.slot_path(weight_file.url, cache_name(weight_file)).is_file()
    except HubError:
        return False


def _installed_source(source: str) -> bool | None:
    """For weights shipped in a pip package (``pip:REQUIREMENT``): whether it is installed; else None."""
    if not source.startswith("pip:"):
        return None
    project = re.split(r"[\s<>=!~;\[]", source[len("pip:"):], maxsplit=1)[0]
    try:
        importlib.metadata.distribution(project)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def card(text: str) -> dict[str, Any]:
    """A Markdown model card with YAML front matter as ``{"meta": {...}, "html": "...", "problem": ...}``.

    The front matter is read by :func:`hub_core.publish.card.read_card` (``yaml.safe_load``: data only, nothing
    is executed); raw HTML in the body is escaped. A card without front matter is all body; front matter that
    does not parse is named in ``problem`` and the card is shown whole.
    """
    import html

    import markdown

    from hub_core.publish.card import read_card

    problem = None
    try:
        meta, body = read_card(text)
    except DataError as error:
        meta, body, problem = {}, text, str(error)
    meta = {str(key): value for key, value in meta.items()}
    # Escape raw HTML first: a card is someone else's text, so it may format but never script the page.
    rendered = markdown.markdown(html.escape(body, quote=False), extensions=["tables", "fenced_code"])
    return {"meta": meta, "html": rendered, "problem": problem}
