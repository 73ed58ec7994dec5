"""The plugin contract: the ``ModelPlugin`` base class and its metadata.

A plugin is a class registered under the ``hub_core.plugins`` entry-point
group. Its module must not import TensorFlow or Keras at import time; the
builder imports them lazily. Metadata is plain data so the catalog
(``registry.json``) can be generated from it and listed without building.
"""

from __future__ import annotations

import abc
import dataclasses
import pathlib
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from hub_core.hub.spec import PREPROCESSING_MODES, Paper, Preprocessing, Variant, WeightFile, WeightSet, preprocessing_name

# The metadata classes are part of the contract: plugins import them from here.
__all__ = ["ModelPlugin", "OPTIMIZER_CAPABILITY", "PREPROCESSING_MODES", "Paper", "SampleBatch", "TASKS", "Variant", "WeightFile", "WeightSet",
           "WeightsRef", "optimizer_names"]

TASKS = ("image-classification", "tabular", "style-transfer")
OPTIMIZER_CAPABILITY = "optimizer:"


def optimizer_names(capabilities: Iterable[str]) -> list[str]:
    """The named optimizers a plugin declares it offers: its ``"optimizer:NAME"`` capabilities.

    Args:
        capabilities: A plugin's ``capabilities`` (or its catalog entry's list).

    Returns:
        The sorted names, e.g. ``["split"]`` for ``{"tabular", "optimizer:split"}``.
    """
    return sorted(c[len(OPTIMIZER_CAPABILITY):] for c in capabilities if c.startswith(OPTIMIZER_CAPABILITY))


@dataclass
class WeightsRef:
    """What a builder receives as ``weights``: a resolved, lazily fetched source.

    Attributes:
        weight_set: Catalog metadata, or None for a user path or URL.
        location: Local path or URL given by the user, when not from the catalog.
    """

    weight_set: WeightSet | None = None
    location: str | None = None

    @property
    def label(self) -> str:
        """Readable name for messages."""
        return self.weight_set.name if self.weight_set else str(self.location)

    def fetch(self, role: str = "default") -> pathlib.Path:
        """Download (or find in the cache) and verify the file; return its path."""
        from hub_core.store import download as store

        if self.weight_set is not None:
            return store.fetch_file(self.weight_set.file(role))
        return store.fetch_location(str(self.location))


@dataclass
class SampleBatch:
    """Inputs, targets, builder arguments and loss for a conformance run."""

    inputs: Any
    targets: Any
    build_kwargs: dict[str, Any]
    loss: Any


class ModelPlugin(abc.ABC):
    """Base class of every model plugin.

    Subclasses set the class attributes and implement :meth:`build`. The
    module that defines a plugin must not import TensorFlow or Keras at
    module level.

    Attributes:
        name: Entry-point name (``"vgg16"``).
        task: One of ``TASKS``.
        description: One line.
        paper: The source publication.
        license: License of the code.
        variants: The buildable models.
        default_variant: Name of the variant a bare plugin name means.
        capabilities: Tags used by the conformance kit (``"features"``, ``"preprocessing"``...);
            ``"optimizer:NAME"`` declares a named optimizer that :meth:`optimizer` returns.
        api_version: The version of this contract the plugin is written for; the registry refuses
            versions it does not support (``hub_core.hub.registry.SUPPORTED_API_VERSIONS``).
    """

    api_version: ClassVar[int] = 1
    name: ClassVar[str] = ""
    task: ClassVar[str] = ""
    description: ClassVar[str] = ""
    paper: ClassVar[Paper | None] = None
    license: ClassVar[str] = "Apache-2.0"
    variants: ClassVar[Sequence[Variant]] = ()
    default_variant: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    preprocessing_mode: ClassVar[Preprocessing | Mapping[str, Preprocessing]] = "none"

    def variant(self, name: str | None = None) -> Variant:
        """Return the variant called ``name`` (default variant when None)."""
        name = name or self.default_variant
        for variant in self.variants:
            if variant.name == name:
                return variant
        from hub_core.errors import unknown

        raise unknown(f"variant of plugin '{self.name}'", name, [v.name for v in self.variants])

    @abc.abstractmethod
    def build(self, variant: Variant, *, weights: WeightsRef | None = None, **kwargs: Any):
        """Build a ``keras.Model`` for ``variant`` and load ``weights`` into it.

        What the hub passes (the README's "What the hub passes to build" has the table, and
        ``tests/test_build_contract.py`` checks it against the call sites):

        * ``hub.load(NAME, **kw)``: the caller's ``kw``.
        * ``hub.train`` / ``hub.fine_tune`` (and ``hub train`` / ``hub fine-tune``) of a model name:
          ``input_shape`` (the data's) and the run's ``model_kwargs``; without the ``"preprocessing"``
          capability ``classes`` (the data's class count), and ``features``/``data`` for a ``"tabular"``
          plugin without weights; with it ``include_preprocessing=True``, ``precision`` and either
          ``include_top=True, num_classes=N`` or ``include_top=False, pooling="avg"`` (weights without a
          classifier, or another input size; the hub adds the classifier).
        * ``hub.predict(NAME)`` / ``hub predict NAME``: ``include_preprocessing=True`` with the
          ``"preprocessing"`` capability, else nothing.
        * The conformance kit: ``sample_batch(variant).build_kwargs`` (image classifiers: ``input_shape``,
          ``classes``), without those two in ``check_default_build``, plus ``include_preprocessing=True``
          in ``check_raw_image_prediction`` with the capability.

        Without the ``"preprocessing"`` capability the hub puts the variant's declared preprocessing in front
        of the model it gets; with it, ``include_preprocessing=True`` asks the plugin to build it in.

        Args:
            variant: The variant to build.
            weights: None for random initialisation, else the resolved weights.
            **kwargs: Builder options, as listed above (``include_top``, ``classes``, ``num_classes``,
                ``pooling``, ``input_shape``, ``include_preprocessing``, ``precision``, ``features``, ``data``).

        Returns:
            A ``keras.Model``.

        Raises:
            InvalidArgumentError: When arguments conflict.
            WeightsError: When the weights cannot be loaded.
        """

    def optimizer(self, name: str, *, learning_rate: Any) -> Any | None:
        """A named optimizer this plugin offers for its models, or None (the default: none).

        ``hub.train``/``hub.fine_tune(MODEL, ..., optimizer=NAME)`` and the
        CLI's ``--optimizer NAME`` ask the model's plugin first, then fall back
        to Keras' optimizer names. A plugin
        offers ``NAME`` by returning a fresh optimizer here and declaring the
        capability ``"optimizer:NAME"``, which the catalog lists (so the CLI can
        say which plugins offer a name); the conformance kit trains a few
        steps with each declared optimizer.

        Args:
            name: The requested name (``"split"``).
            learning_rate: A float or a ``keras.optimizers.schedules.LearningRateSchedule``.

        Returns:
            A new ``keras.optimizers.Optimizer``, or None when this plugin does not offer ``name``.
        """
        return None

    def packaged_weights(self, variant: Variant, weight_set: WeightSet) -> pathlib.Path | None:
        """The verified file of a weight set that ships inside an installed package, or None (the default).

        A set without downloadable files whose ``source`` is a package (``"pip:REQUIREMENT"``) is read from
        the package; ``hub.download`` / ``hub download`` return this path for it instead of refusing.

        Args:
            variant: The variant.
            weight_set: One of its weight sets, with no downloadable files.

        Returns:
            The file, checked against its published hash, or None when the plugin names none.

        Raises:
            WeightsError: When the package is not installed or lacks the file.
            ChecksumError: When the file is not the published one.
        """
        return None

    def search_space(self, variant: Variant) -> dict[str, str]:
        """Hyperparameters of ``variant`` that ``hub.sweep`` / ``hub sweep`` search, or none (the default).

        Each name is a builder argument that :meth:`build` accepts (``hub.sweep`` passes it through
        ``model_kwargs``), a training option, or ``"model"`` (a list of model names to choose from); each
        spec is ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``, ``int:LOW:HIGH`` or choices ``a,b,c``. They
        join the task's default space when the sweep is given none.

        Args:
            variant: The variant being swept.

        Returns:
            ``{name: spec}``, e.g. ``{"dropout": "uniform:0.0:0.5"}``.
        """
        return {}

    def preprocessing(self, variant: Variant | None = None) -> Preprocessing:
        """The declared preprocessing of ``variant`` (the default variant when None).

        ``variant.preprocessing`` when set, else the class attribute ``preprocessing_mode`` (a declaration,
        or ``{variant name: declaration}``), kept for plugins written before variants declared it.
        """
        variant = variant or self.variant()
        if variant.preprocessing is not None:
            return variant.preprocessing
        mode = self.preprocessing_mode
        return mode[variant.name] if isinstance(mode, Mapping) else mode

    def preprocess(self, images, variant: Variant | None = None):
        """The declared preprocessing applied to a numpy batch of 0..255 RGB pixels (a new float array).

        For a model built without ``include_preprocessing``; the hub's own paths never call this, they put
        the declared preprocessing into the model. Do not override it: declare ``Variant.preprocessing``.
        """
        from hub_core.hub.preprocessing import apply_preprocessing

        return apply_preprocessing(images, self.preprocessing(variant))

    def decode_predictions(self, variant: Variant, outputs: Any) -> list[dict[str, Any]] | None:
        """The outputs of ``variant`` on a batch as one plain-data dict per input, or None (the default).

        ``hub.predict(NAME)`` and ``hub predict NAME`` give classifiers' outputs as top-k classes; a plugin
        whose model outputs something else (bits per position, say) returns here what each row means. Each
        dict needs a ``label`` (the one line ``hub predict`` prints); the hub adds ``image`` and ``engine``.

        Args:
            variant: The variant that ran.
            outputs: Its outputs on the batch (numpy).

        Returns:
            One dict per input, or None to leave the outputs to the hub (top-k classes or raw arrays).
        """
        return None

    def blocks(self, model) -> list[list[str]]:
        """Layer names grouped into blocks, from input to output, for fine-tuning.

        The default groups every layer with weights into its own block.
        """
        return [[layer.name] for layer in model.layers if layer.weights]

    def sample_batch(self, variant: Variant, *, small: bool = True, batch_size: int = 4, seed: int = 0) -> "SampleBatch":
        """A small batch to build, run and train ``variant`` in the conformance kit.

        The default suits image classifiers: uint8-range images, integer labels
        over 5 classes and a sparse cross-entropy loss. Other tasks override it.

        Args:
            variant: The variant to exercise.
            small: Use :meth:`small_input_shape` instead of the default shape.
            batch_size: Number of examples.
            seed: Seed of the random batch.
        """
        import numpy as np

        rng = np.random.default_rng(seed)
        shape = tuple(self.small_input_shape(variant) if small else variant.input_shape or (32, 32, 3))
        return SampleBatch(
            inputs=rng.integers(0, 256, size=(batch_size, *shape)).astype("float32"),
            targets=rng.integers(0, 5, size=(batch_size,)),
            build_kwargs={"input_shape": shape, "classes": 5},
            loss="sparse_categorical_crossentropy",
        )

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """The smallest convenient input shape for tests (the default shape here)."""
        return tuple(variant.input_shape or (32, 32, 3))

    def catalog_entry(self) -> dict[str, Any]:
        """This plugin's metadata as the plain-data catalog entry."""
        return {
            "task": self.task,
            "description": self.description,
            "license": self.license,
            "paper": dataclasses.asdict(self.paper) if self.paper else None,
            "default_variant": self.default_variant,
            "capabilities": sorted(self.capabilities),
            "variants": {v.name: _variant_entry(self, v) for v in self.variants},
        }


def _variant_entry(plugin: ModelPlugin, variant: Variant) -> dict[str, Any]:
    card = {"card": variant.card} if variant.card else {}
    return {
        **card,
        "description": variant.description,
        "input_shape": list(variant.input_shape) if variant.input_shape else None,
        "num_params": variant.num_params,
        "preprocessing": preprocessing_name(plugin.preprocessing(variant)),
        "default_weights": variant.default_weights,
        "weights": {
            w.name: {
                "description": w.description,
                "license": w.license,
                "format": w.format,
                "num_classes": w.num_classes,
                "published": w.published,
                "note": w.note,
                "source": w.source,
                "files": [
                    {k: v for k, v in dataclasses.asdict(f).items() if v is not None}
                    for f in w.files
                ],
            }
            for w in variant.weights
        },
    }
