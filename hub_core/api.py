"""``hub.load`` and weight resolution."""

from __future__ import annotations

import os
import pathlib
from typing import Any

from hub_core.hub import registry
from hub_core.errors import HubError, PluginError, WeightsError
from hub_core.hub.plugin import WeightsRef

DEFAULT = "default"


def load(name: str | os.PathLike, *, weights: Any = DEFAULT, **builder_kwargs: Any):
    """Build a model by name and load its weights.

    Args:
        name: A model name (``"resnet50"``), a plugin name (``"resnet"``, meaning
            its default variant), a run directory written by ``hub.fine_tune``
            or a ``.keras`` file.
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
    path = pathlib.Path(os.fspath(name))
    if path.suffix == ".keras" or path.is_dir():
        from hub_core.training import runs

        return runs.open_saved(path, **builder_kwargs)
    plugin_name, variant_name = registry.resolve(str(name))
    plugin = registry.get_plugin(plugin_name)
    variant = plugin.variant(variant_name)
    ref = resolve_weights(plugin_name, variant_name, weights)
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


def resolve_weights(plugin_name: str, variant_name: str, weights: Any) -> WeightsRef | None:
    """Turn the ``weights`` argument into a :class:`WeightsRef` (or None).

    Weight-set names are looked up in the merged catalog, so an organisation's
    ``HUB_CORE_REGISTRY`` can add sets or point them at its own URLs.
    """
    if weights is None:
        return None
    variant_entry = registry.entry(plugin_name)["variants"][variant_name]
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
        from hub_core.hub import catalog

        return WeightsRef(weight_set=catalog.weight_set_from_entry(weights, sets[weights]))
    if "://" in weights:
        return WeightsRef(location=weights)
    if os.sep in weights or "." in weights or pathlib.Path(weights).exists():
        if not pathlib.Path(weights).exists():
            raise WeightsError(f"Weights file {weights} does not exist; pass an existing path, a URL or a weight-set name.")
        return WeightsRef(location=str(pathlib.Path(weights).resolve()))
    from hub_core.errors import unknown

    raise unknown(
        f"weight set for '{variant_name}'",
        weights,
        sets,
        f"Available: {', '.join(sets) or 'none'}; or pass a path or URL.",
    )
