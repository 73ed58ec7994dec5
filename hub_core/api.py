"""``hub.load``, ``hub.download`` and the cache selection: the one place where the catalog, the weights store and a plugin meet."""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from typing import Any

from hub_core import saving
from hub_core.errors import (
    HubError,
    InvalidArgumentError,
    PluginError,
    UnknownNameError,
    WeightsError,
    unknown,
)
from hub_core.hub import catalog, registry
from hub_core.hub.plugin import WeightsRef
from hub_core.hub.spec import WeightSet
from hub_core.store import cache
from hub_core.store import download as store

DEFAULT = "default"
_NOTICED: set[str] = set()  # models whose random-weights notice was given


def load(name: str | os.PathLike, *, weights: Any = DEFAULT, **builder_kwargs: Any):
    """Build a model by name and load its weights.

    Args:
        name: A model name (``"resnet50"``), a plugin name (``"resnet"``, meaning
            its default variant), a qualified ``"PLUGIN:MODEL"`` (for a model name
            that several plugins declare), a run directory written by
            ``hub.fine_tune`` or a ``.keras`` file. A registered name always means
            the model; write a folder that shares a model's name as a path
            (``"./vgg16"``), see :func:`names_saved_model`.
        weights: ``"default"`` (the variant's default pretrained set), ``None``
            (random initialisation), a weight-set name, a local path or a URL.
        **builder_kwargs: Passed to the plugin's builder (``include_top``,
            ``num_classes``, ``input_shape``, ``features``, ``precision``...).

    Returns:
        A ``keras.Model``.

    Raises:
        UnknownNameError: For unknown models or weight sets, with close matches.
        InvalidArgumentError: For builder arguments that conflict.
        WeightsError: When weights cannot be fetched, verified or applied.

    Example:
        >>> import hub_core as hub
        >>> model = hub.load("vgg16", weights=None, input_shape=(64, 64, 3), include_top=False)
    """
    if names_saved_model(name):
        return saving.open_saved(pathlib.Path(os.fspath(name)), **builder_kwargs)
    plugin_name, variant_name = catalog.resolve(str(name))
    plugin = registry.get_plugin(plugin_name)
    variant = plugin.variant(variant_name)
    ref = resolve_weights(plugin_name, variant_name, weights)
    if ref is None and weights == DEFAULT:
        _notice_random_weights(variant_name)
    try:
        return plugin.build(variant, weights=ref, **builder_kwargs)
    except HubError:
        raise
    except TypeError as error:
        raise PluginError(f"Plugin '{plugin_name}' cannot build '{variant_name}' with these arguments: {error}.") from error
    except Exception as error:
        raise PluginError(
            f"Plugin '{plugin_name}' failed to build '{variant_name}': {type(error).__name__}: {error}"
        ) from error


def names_saved_model(name: str | os.PathLike) -> bool:
    """Whether ``hub.load(name)`` means a saved model (run directory or ``.keras`` file) rather than a catalog model.

    A ``PathLike``, or a string written as a path (absolute, ``./``, ``../``,
    ``~``, a directory separator, or the ``.keras`` suffix) is a path. Any
    other string is a path only when it is not a registered model or plugin
    name and a saved model exists there.
    """
    if not isinstance(name, str):
        return isinstance(name, os.PathLike)
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    if (os.path.isabs(name) or name.startswith(("./", "../", "~")) or any(s in name for s in separators)
            or name.endswith(".keras")):
        return True
    try:
        catalog.resolve(name)
    except HubError:
        return pathlib.Path(name).is_dir() or pathlib.Path(name).is_file()
    return False


def _notice_random_weights(variant_name: str) -> None:
    """Say once per model that ``weights="default"`` built it with random weights (it has no pretrained set)."""
    if variant_name not in _NOTICED:
        _NOTICED.add(variant_name)
        logging.getLogger("hub_core").warning(
            "hub: %s has no pretrained weights, so weights='default' built it with random weights.", variant_name)


def resolve_weights(plugin_name: str, variant_name: str, weights: Any) -> WeightsRef | None:
    """Turn the ``weights`` argument into a :class:`WeightsRef` (or None).

    Weight-set names are looked up in the merged catalog, so an organisation's
    ``HUB_CORE_REGISTRY`` can add sets or point them at its own URLs.
    """
    if weights is None:
        return None
    variant_entry = catalog.entry(plugin_name)["variants"][variant_name]
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise WeightsError(
            f"weights must be 'default', None, a weight-set name, a path or a URL, not {type(weights).__name__}."
        )
    if weights == DEFAULT:
        weights = variant_entry["default_weights"]
        if weights is None:
            return None
    sets = variant_entry["weights"]
    if weights in sets:
        return WeightsRef(weight_set=catalog.weight_set_from_entry(weights, sets[weights]))
    if "://" in weights:
        return WeightsRef(location=weights)
    if os.sep in weights or "." in weights or pathlib.Path(weights).exists():
        if not pathlib.Path(weights).exists():
            raise WeightsError(f"Weights file {weights} does not exist; pass an existing path, a URL or a weight-set name.")
        return WeightsRef(location=str(pathlib.Path(weights).resolve()))
    raise unknown(
        f"weight set for '{variant_name}'",
        weights,
        sets,
        f"Available: {', '.join(sets) or 'none'}; or pass a path or URL.",
    )


def download(url_or_name: str | os.PathLike, *, sha256: str | None = None, weights: str | None = None,
             progress: bool = True) -> pathlib.Path:
    """Download (or find in the cache) a verified weights file.

    Args:
        url_or_name: A URL, ``file://`` URL or path; or a model/plugin name,
            whose weight set (``weights``, else the default set) is fetched.
        sha256: Expected hex sha256 of a URL download; for a model, it pins
            the set's main file instead of the catalog hash.
        weights: Weight-set name, for a model name only.
        progress: Show a progress bar when stderr is a terminal.

    Returns:
        The path of the main file (the set's first file); every file of the
        set is fetched. A set that ships inside an installed package (its plugin's
        ``packaged_weights``) is not downloaded: its file there is verified and returned.

    Raises:
        UnknownNameError: For unknown models or weight sets, with close matches.
        InvalidArgumentError: For ``weights`` combined with a URL or path.
        ChecksumError, OfflineError, WeightsError: As :func:`fetch_file`; WeightsError also for a set that has no
            downloadable file and ships in no installed package.

    Example:
        >>> import hub_core as hub
        >>> path = hub.download("vgg16")                  # default set
        >>> path = hub.download("https://host/w.h5", sha256="9a0f...")
    """
    text = os.fspath(url_or_name)
    if "://" in text or os.sep in text or pathlib.Path(text).is_file():
        if weights is not None:
            raise InvalidArgumentError(
                f"weights={weights!r} names a weight set of a model; drop it when downloading the URL or path {text}."
            )
        return store.fetch_location(text, sha256=sha256, progress=progress)
    weight_set = _weight_set_of(text, weights)
    if not weight_set.files:
        return _packaged_file(text, weight_set)
    files = list(weight_set.files)
    if sha256:
        files[0] = dataclasses.replace(files[0], sha256=sha256, md5=None)
    paths = [store.fetch_file(weight_file, progress=progress) for weight_file in files]
    return paths[0]


def _weight_set_of(model: str, weights: str | None) -> WeightSet:
    """The catalog weight set ``weights`` (or the default) of ``model``."""
    plugin_name, variant_name = catalog.resolve(model)
    variant = catalog.entry(plugin_name)["variants"][variant_name]
    set_name = weights or variant["default_weights"]
    if set_name is None:
        raise WeightsError(
            f"Model '{variant_name}' has no default pretrained weights; pass --weights/weights= with one of: "
            f"{', '.join(variant['weights']) or 'none'}."
        )
    if set_name not in variant["weights"]:
        raise unknown(f"weight set for '{variant_name}'", set_name, variant["weights"],
                      f"Available: {', '.join(variant['weights']) or 'none'}.")
    return catalog.weight_set_from_entry(set_name, variant["weights"][set_name])


def _packaged_file(model: str, weight_set: WeightSet) -> pathlib.Path:
    """The verified file of a weight set without downloadable files, from the installed package it ships in.

    Raises:
        WeightsError: When the plugin names no such file (the error says where the set comes from).
    """
    plugin_name, variant_name = catalog.resolve(model)
    plugin = registry.get_plugin(plugin_name)
    path = plugin.packaged_weights(plugin.variant(variant_name), weight_set) if weight_set.source.startswith("pip:") else None
    if path is None:
        raise WeightsError(f"Weight set '{weight_set.name}' of '{variant_name}' has no downloadable file: "
                           f"{weight_set.unavailable_reason()}.")
    return path


def cached_files(name: str | None) -> list[str] | None:
    """The cache file names ``hub cache ls|verify|clear NAME`` acts on.

    Args:
        name: A cached file name (a download or a conversion), an engine export's key, a model or
            plugin name (meaning the files of every weight set of the model and the engines' exports of
            the model), or None for every file.

    Returns:
        The file names for :func:`hub_core.store.cache.cache_entries` and its
        siblings, or None (every file) when ``name`` is None.

    Raises:
        UnknownNameError: When ``name`` is neither a cached file nor a model.
    """
    if name is None:
        return None
    cached = cache.cached_names() + [path.name for path in cache.converted_files() + cache.engine_exports()]
    if name in cached:
        return [name]
    try:
        plugin_name, variant_name = catalog.resolve(name)
    except UnknownNameError:
        raise unknown("cached file or model", name, cached + catalog.list_models(),
                      "Run 'hub cache ls' to see the cached files.") from None
    sets = catalog.entry(plugin_name)["variants"][variant_name]["weights"]
    files = {store.cache_name(weight_file)
             for set_name, set_entry in sets.items()
             for weight_file in catalog.weight_set_from_entry(set_name, set_entry).files}
    return sorted(files) + [folder.name for folder in cache.exports_of(variant_name)]
