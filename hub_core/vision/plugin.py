"""``ImageClassifierPlugin``: the glue of an image-classifier plugin, written once."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Mapping

from hub_core.hub.plugin import ModelPlugin
from hub_core.hub.spec import Variant
from hub_core.vision.builder import blocks
from hub_core.vision.preprocessing import preprocess_input


class ImageClassifierPlugin(ModelPlugin):
    """Base class of the image-classifier plugins: the glue, written once.

    Subclasses set the :class:`~hub_core.hub.plugin.ModelPlugin` metadata plus:

    Attributes:
        model_module: Import path of the module with ``build(variant_name, *,
            weights, **kwargs)`` and ``BLOCK_PREFIXES``; imported on first build.
            A variant's ``options`` are defaults for ``build``'s arguments, and
            ``preprocessing`` (the variant's mode) is among the keyword
            arguments, for ``build`` to pass on to
            :func:`~hub_core.vision.builder.build_model`.
        preprocessing_mode: One of ``MODES``, or ``{variant name: mode}``: the
            only place a plugin declares its preprocessing.
        small_size: Height and width of the conformance kit's small inputs.
    """

    task = "image-classification"
    capabilities = frozenset({"features", "preprocessing", "pretrained"})
    model_module: ClassVar[str] = ""
    preprocessing_mode: ClassVar[str | Mapping[str, str]] = "caffe"
    small_size: ClassVar[int] = 32

    def _model(self):
        return importlib.import_module(self.model_module)

    def build(self, variant: Variant, *, weights=None, **kwargs: Any):
        """Build ``variant``; arguments as :func:`~hub_core.vision.builder.build_model` (plus the family's own).

        The variant's preprocessing mode is passed as ``preprocessing``; it is
        not an argument of its own.
        """
        return self._model().build(variant.name, weights=weights, preprocessing=self.mode(variant),
                                   **{**variant.options, **kwargs})

    def mode(self, variant: Variant | None = None) -> str:
        """The preprocessing mode of ``variant`` (the default variant when None)."""
        if isinstance(self.preprocessing_mode, str):
            return self.preprocessing_mode
        return self.preprocessing_mode[(variant or self.variant()).name]

    def preprocess(self, images, variant: Variant | None = None):
        """:func:`~hub_core.vision.preprocessing.preprocess_input` in the variant's mode (numpy, 0..255 RGB in)."""
        return preprocess_input(images, self.mode(variant))

    def blocks(self, model) -> list[list[str]]:
        """Weighted layers grouped by the model module's ``BLOCK_PREFIXES``."""
        return blocks(model, self._model().BLOCK_PREFIXES)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """``(small_size, small_size, 3)``."""
        return (self.small_size, self.small_size, 3)
