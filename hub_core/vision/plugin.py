"""``ImageClassifierPlugin``: the glue of an image-classifier plugin, written once."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Mapping

from hub_core.hub.plugin import ModelPlugin
from hub_core.hub.spec import Preprocessing, Variant
from hub_core.vision.builder import blocks, build_model


class ImageClassifierPlugin(ModelPlugin):
    """Base class of the image-classifier plugins: the glue, written once.

    Subclasses set the :class:`~hub_core.hub.plugin.ModelPlugin` metadata, declare each variant's
    ``preprocessing`` (a mode such as ``"caffe"``, or a layer factory) and set:

    Attributes:
        model_module: Import path of the module with ``BLOCK_PREFIXES`` and either ``spec(variant_name)``
            returning a :class:`~hub_core.vision.builder.ImageSpec` (the base class then builds it with
            :func:`~hub_core.vision.builder.build_model`: the keras.applications signature, ``num_classes``,
            precision, weight loading that swaps the classifier, whatever the classifier is) or, for a family
            that needs its own arguments, ``build(variant_name, *, weights, **kwargs)`` that ends in
            ``build_model``. Imported on first build. A variant's ``options`` are defaults for the builder's
            arguments, and ``preprocessing`` (the variant's declaration) is among the keyword arguments.
        preprocessing_mode: The declaration of variants that declare none (``"caffe"`` here), or
            ``{variant name: declaration}``; kept for plugins written before variants declared it.
        small_size: Height and width of the conformance kit's small inputs.

    ``build`` receives, besides ``weights``, the arguments of
    :func:`~hub_core.vision.builder.build_model` (the hub passes ``include_top``, ``num_classes``,
    ``classes``, ``pooling``, ``input_shape``, ``include_preprocessing``, ``precision``; see the README's
    "Writing a plugin" for who passes what).
    """

    task = "image-classification"
    capabilities = frozenset({"features", "preprocessing", "pretrained"})
    model_module: ClassVar[str] = ""
    preprocessing_mode: ClassVar[Preprocessing | Mapping[str, Preprocessing]] = "caffe"
    small_size: ClassVar[int] = 32

    def _model(self):
        return importlib.import_module(self.model_module)

    def build(self, variant: Variant, *, weights=None, **kwargs: Any):
        """Build ``variant``; arguments as :func:`~hub_core.vision.builder.build_model` (plus the family's own).

        The variant's preprocessing declaration is passed as ``preprocessing``; it is
        not an argument of its own.
        """
        module = self._model()
        build = module.build if hasattr(module, "build") else lambda name, **rest: build_model(module.spec(name), **rest)
        return build(variant.name, weights=weights, preprocessing=self.preprocessing(variant),
                     **{**variant.options, **kwargs})

    def blocks(self, model) -> list[list[str]]:
        """Weighted layers grouped by the model module's ``BLOCK_PREFIXES``."""
        return blocks(model, self._model().BLOCK_PREFIXES)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """``(small_size, small_size, 3)``."""
        return (self.small_size, self.small_size, 3)
