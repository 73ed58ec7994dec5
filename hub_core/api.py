"""``hub.load`` and ``hub.download``: the one place where the catalog, the weights store and a plugin meet."""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from typing import Any

from hub_core.hub import catalog, registry
from hub_core.errors import HubError, InvalidArgumentError, PluginError, WeightsError, unknown
from hub_core.hub.plugin import WeightsRef
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
        from hub_core.training import runs

        return runs.open_saved(pathlib.Path(os.fspath(name)), **builder_kwargs)
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
        set is fetched.

    Raises:
        UnknownNameError: For unknown models or weight sets, with close matches.
        InvalidArgumentError: For ``weights`` combined with a URL or path.
        ChecksumError, OfflineError, WeightsError: As :func:`fetch_file`.

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
    files = list(weight_set.files)
    if sha256:
        files[0] = dataclasses.replace(files[0], sha256=sha256, md5=None)
    paths = [store.fetch_file(weight_file, progress=progress) for weight_file in files]
    return paths[0]


def _weight_set_of(model: str, weights: str | None):
    """The catalog weight set ``weights`` (or the default) of ``model``."""
    from hub_core.hub import catalog

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
    weight_set = catalog.weight_set_from_entry(set_name, variant["weights"][set_name])
    if not weight_set.files:
        raise WeightsError(f"Weight set '{set_name}' of '{variant_name}' has no downloadable file: "
                           f"{weight_set.unavailable_reason()}.")
    return weight_set
