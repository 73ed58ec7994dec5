"""The plugin class of a wheel built by ``hub publish``: everything it knows comes from its package's data files.

A published package holds ``hub_catalog.json`` (the catalog data listing reads), ``class_names.json`` and its
weights, a safe-mode ``.keras`` file whose sha256 the catalog data records. Its ``plugin.py`` is a subclass of
:class:`PublishedPlugin` that names the plugin and the package, nothing else. Building loads the verified file
through the weights store (``package://`` URL, hashed on every load) and Keras' safe mode, so no code from the
weights runs. Importing this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
from typing import Any, ClassVar

from hub_core.errors import InvalidArgumentError, PluginError
from hub_core.hub import catalog
from hub_core.hub.plugin import ModelPlugin, Paper, Variant, WeightsRef
from hub_core.saving import CLASS_NAMES



def package_folder(package: str) -> pathlib.Path:
    """The installed folder of the top-level ``package``, found without importing it.

    Raises:
        PluginError: When the package is not installed.
    """
    found = importlib.util.find_spec(package)
    for location in (found.submodule_search_locations or ()) if found else ():
        return pathlib.Path(location)
    raise PluginError(f"The published package {package} is not installed; reinstall the wheel that provides it.")


class PublishedPlugin(ModelPlugin):
    """A model published with ``hub publish``; subclasses set ``name`` and ``package`` only.

    Attributes:
        package: The top-level package that holds the data files.
        class_names: The class names of the published classifier, in label order.
    """

    package: ClassVar[str] = ""

    def __init__(self) -> None:
        folder = package_folder(self.package)
        entry = catalog.read(folder / catalog.DATA_FILE)["plugins"].get(self.name)
        if entry is None:
            raise PluginError(f"{folder / catalog.DATA_FILE} does not describe plugin '{self.name}'; rebuild the wheel with hub publish.")
        self.task = entry["task"]
        self.description = entry["description"]
        self.license = entry["license"]
        self.paper = Paper(**entry["paper"]) if entry.get("paper") else None
        self.default_variant = entry["default_variant"]
        self.variants = tuple(_variant(name, data) for name, data in entry["variants"].items())
        self.class_names = tuple(json.loads((folder / CLASS_NAMES).read_text(encoding="utf-8")))

    def build(self, variant: Variant, *, weights: WeightsRef | None = None, classes: int | None = None,
              input_shape: tuple[int, ...] | None = None, **kwargs: Any):
        """Load the published model from its verified file; with ``weights=None``, its architecture freshly initialised.

        Args:
            variant: The published variant.
            weights: The resolved weights (the published set, or a ``.keras`` path or URL), or None.
            classes: Class count; another count than the published one replaces the final Dense layer.
            input_shape: Must be the published input shape when given (the saved model has a fixed input).

        Raises:
            InvalidArgumentError: For another input shape, or another class count when the last layer is not Dense.
        """
        import keras

        from hub_core.saving import load_keras

        if kwargs:
            raise TypeError(f"a published model takes no builder options {sorted(kwargs)}")
        published = WeightsRef(weight_set=next(w for w in variant.weights if w.name == variant.default_weights))
        model = load_keras((weights or published).fetch())
        if weights is None:
            model = keras.models.clone_model(model)  # same layers, new initial values
        if input_shape is not None and tuple(input_shape) != tuple(model.inputs[0].shape[1:]):
            raise InvalidArgumentError(f"Model '{variant.name}' takes inputs of shape {tuple(model.inputs[0].shape[1:])}, "
                                       f"not {tuple(input_shape)}; resize the images to its input size.")
        if classes is None or classes == len(self.class_names):
            model.class_names = self.class_names
            return model
        head = model.layers[-1]
        if not isinstance(head, keras.layers.Dense):
            raise InvalidArgumentError(f"Model '{variant.name}' ends in {type(head).__name__}, not Dense, so its "
                                       f"{len(self.class_names)} classes cannot be replaced by {classes}; train it on "
                                       f"{len(self.class_names)} classes.")
        outputs = keras.layers.Dense(classes, activation=head.activation, name=head.name)(head.input)
        return keras.Model(model.inputs, outputs, name=model.name)


def _variant(name: str, data: dict[str, Any]) -> Variant:
    """A :class:`Variant` from its catalog entry."""
    return Variant(
        name=name,
        input_shape=tuple(data["input_shape"]) if data.get("input_shape") else None,
        num_params=data.get("num_params"),
        weights=tuple(catalog.weight_set_from_entry(set_name, entry) for set_name, entry in data["weights"].items()),
        default_weights=data.get("default_weights"),
        description=data.get("description", ""),
        preprocessing=data.get("preprocessing"),
        card=data.get("card", ""),
    )
