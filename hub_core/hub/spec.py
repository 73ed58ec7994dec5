"""The plugin metadata as pure data: papers, variants, weight sets and their files.

Nothing here imports TensorFlow or Keras; the catalog (``registry.json``) is
generated from these classes and read back into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

from hub_core.errors import WeightsError

#: The preprocessing modes a variant can declare, each a function of 0..255 RGB pixels:
#: ``caffe`` (RGB->BGR, minus the ImageNet mean), ``tf`` (scaled to -1..1), ``torch`` (0..1, then the
#: ImageNet mean/std), ``unit`` (scaled to 0..1) and ``none`` (the model takes the pixels as they are).
PREPROCESSING_MODES = ("caffe", "tf", "torch", "unit", "none")

#: The largest model card a variant's catalog entry may carry, in bytes of UTF-8.
CARD_BUDGET = 64 * 1024

#: A variant's preprocessing: one of ``PREPROCESSING_MODES``, or a layer factory (a function of no
#: arguments returning a Keras layer that takes 0..255 RGB pixels), given as the function or its
#: dotted path (``"my_package.layers.make_preprocessing"``).
Preprocessing = Union[str, Callable[[], Any]]


def preprocessing_name(preprocessing: Preprocessing) -> str:
    """The declaration as the catalog and run directories record it: the mode, or the factory's dotted path."""
    if isinstance(preprocessing, str):
        return preprocessing
    return f"{preprocessing.__module__}.{preprocessing.__qualname__}"


@dataclass(frozen=True)
class Paper:
    """The publication a model comes from."""

    title: str
    url: str
    authors: str = ""
    year: int | None = None


@dataclass(frozen=True)
class WeightFile:
    """One published file of a weight set.

    Attributes:
        url: Upstream URL of the file.
        sha256: Hex sha256 of the file, where known.
        md5: Hex md5, used only where no sha256 is published.
        size: Size in bytes, where known.
        role: Which file of the set this is, e.g. ``"top"`` or ``"notop"``.
        file_name: Cache file name; defaults to the URL's last segment.
    """

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    role: str = "default"
    file_name: str | None = None

    @property
    def name(self) -> str:
        """The file name used in the cache and looked up on mirrors."""
        return self.file_name or self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class WeightSet:
    """A named set of pretrained weights for one variant.

    Attributes:
        name: Short name users pass as ``weights=`` (``"imagenet"``).
        files: Published files (one per role); empty when not published.
        license: License of the weights.
        description: What the weights were trained on, honestly stated.
        format: The source format the plugin's loader reads.
        num_classes: Classifier width the weights carry, or None for none.
        published: False when no public file exists; ``note`` says why.
        note: Free text shown by ``hub info``.
        source: Where the file comes from when not a URL (e.g. a pip package).
    """

    name: str
    files: tuple[WeightFile, ...] = ()
    license: str = "unknown"
    description: str = ""
    format: str = "keras_h5"
    num_classes: int | None = None
    published: bool = True
    note: str = ""
    source: str = ""

    def unavailable_reason(self) -> str | None:
        """Why this set has no downloadable file (its note, or where it comes from), or None when it has one."""
        if self.files:
            return None
        reason = self.note or (f"it comes from {self.source}" if self.source else "none is published")
        return reason.rstrip(".")

    def file(self, role: str = "default") -> WeightFile:
        """Return the file for ``role``, falling back to the only file.

        Raises:
            WeightsError: When the set has no such file; for a set without files, the error gives its note.
        """
        if not self.files:
            raise WeightsError(f"Weight set '{self.name}' has no downloadable file: {self.unavailable_reason()}.")
        for weight_file in self.files:
            if weight_file.role == role:
                return weight_file
        if len(self.files) == 1:
            return self.files[0]
        roles = ", ".join(f.role for f in self.files) or "none"
        raise WeightsError(
            f"Weight set '{self.name}' has no '{role}' file (it has: {roles}); "
            "pick another weight set or pass a local file with weights=PATH."
        )


@dataclass(frozen=True)
class Variant:
    """One buildable model of a plugin (``resnet50`` of ``resnet``).

    Attributes:
        name: Globally unique model name.
        input_shape: Default input shape without batch, or None if not an image model.
        num_params: Parameter count of the default build (checked by the conformance kit).
        weights: Available weight sets.
        default_weights: Name of the set ``weights="default"`` means, or None.
        description: One line for ``hub list``.
        options: Builder keyword defaults that define this variant.
        preprocessing: What the model expects done to 0..255 RGB pixels (see ``Preprocessing``); the hub
            applies it exactly once on every path (training, fine-tuning, evaluation, prediction, export).
            None falls back to the plugin's ``preprocessing_mode`` (``"none"`` unless the plugin sets it).
        card: The model card (Markdown with YAML front matter, at most ``CARD_BUDGET`` bytes of UTF-8), or
            ``""``; ``hub publish`` ships one, ``hub info`` shows its summary.
    """

    name: str
    input_shape: tuple[int | None, ...] | None = None
    num_params: int | None = None
    weights: tuple[WeightSet, ...] = ()
    default_weights: str | None = None
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Preprocessing | None = None
    card: str = ""
