"""Shared machinery of the image-classification plugins.

Every image plugin (vgg16, resnet, inception_resnet_v2, alexnet, googlenet)
describes its network as an :class:`ImageSpec` and calls :func:`build_model`;
this module owns the ``keras.applications`` builder signature, its argument
validation, the hub extras, weight loading and preprocessing, so no plugin
copies them. Importing this module imports numpy only; Keras is imported
inside the functions that build or run models, so plugin metadata modules may
import it.

Public API
----------
Specs and building:

* ``Stage(name, stride)``: a feature-map stage; ``name`` is the layer whose
  output is the stage (its channel count is read from the built layer).
* ``ImageSpec(name, backbone, head=None, stages=(), default_size=224,
  min_size=32, preprocessing="caffe", classifier_name="predictions",
  weight_readers={}, rename_weights=None)``:

  - ``backbone(x) -> x`` builds the convolutional trunk on the input tensor
    (already preprocessed when ``include_preprocessing=True``);
  - ``head(x) -> x`` builds the family's top *without* the classifier
    (VGG: flatten, fc1, fc2; ResNet: ``GlobalAveragePooling2D(name="avg_pool")``;
    AlexNet: fc6, fc7). None means global average pooling named ``avg_pool``;
  - the classifier ``Dense(classes, name=classifier_name)`` is added here, so
    "replace only the classifier" is implemented once;
  - ``weight_readers`` maps a ``WeightSet.format`` to
    ``reader(ref: WeightsRef, role: str) -> {layer_name: [arrays]}`` for
    foreign formats (files in the legacy Keras h5 layout, Keras 3
    ``.weights.h5`` and ``.npz`` are read without one);
  - ``rename_weights(arrays) -> arrays`` maps the layer names of any weight
    file read for this spec to the model's, for networks whose published
    files carry Keras' automatic layer names (InceptionResNetV2's
    ``conv2d_17`` differs by session); None keeps the names.
* ``build_model(spec, *, weights, include_top=True, input_tensor=None,
  input_shape=None, pooling=None, classes=None, classifier_activation="softmax",
  name=None, num_classes=None, dropout=0.0, include_preprocessing=False,
  features=False, out_indices=None, precision="float32") -> keras.Model``.
  ``features=True`` (or ``out_indices``) returns the stage feature maps, like
  timm's ``features_only``; see :func:`feature_info`.

Weights:

* ``read_weights(path) -> {layer_name: [arrays]}`` for legacy h5
  (``layer_names``/``weight_names`` attributes), Keras 3 ``.weights.h5`` and
  ``.npz`` (keys ``"layer/0"``...).
* ``assign_weights(model, arrays, *, source, replaceable=())`` sets every
  weighted layer by name; a missing layer or a shape mismatch raises
  ``WeightsError``, except for ``replaceable`` layers, which then keep their
  initial values (how ``num_classes`` replaces only the classifier).

Preprocessing and predictions:

* ``preprocess_input(x, mode="caffe", data_format=None)``: numpy, exactly
  ``keras.applications.imagenet_utils.preprocess_input`` (without writing
  over the input). ``mode`` is one of ``MODES``.
* ``preprocessing_layer(mode)``: the same as a Keras layer
  (``hub_core.vision.layers.ImagePreprocessing``), computed in float32.
* ``decode_predictions(preds, top=5)``: ``[(wnid, label, score), ...]`` per
  image, from the ImageNet class index shipped in ``hub_core/data``.

Plugins:

* ``ImageClassifierPlugin``: a ``ModelPlugin`` base whose ``build``,
  ``preprocess``, ``blocks`` and ``small_input_shape`` come from class
  attributes ``model_module`` (a module with ``build(variant_name, *,
  weights, **kwargs)`` and ``BLOCK_PREFIXES``), ``preprocessing_mode`` and
  ``small_size``; a plugin then only declares its metadata.

Helpers:

* ``feature_info(model) -> [{"name", "index", "stride", "channels"}]``.
* ``blocks(model, prefixes) -> [[layer names]]``: weighted layers grouped by
  the first matching name prefix, in model order, for fine-tuning by block.
* ``resolve_precision(precision) -> "float32" | "bfloat16"`` and
  ``bf16_supported()``. Builds in bfloat16 fold BatchNormalization into the
  convolution before it for inference
  (``hub_core.vision.layers.FoldableConv2D``/``FoldableBatchNormalization``,
  ``set_batchnorm_folding``); plugins use those two classes for conv+BN pairs.
* ``custom_objects()``: the Keras classes this module puts into models, for
  ``keras.saving.load_model``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import json
import os
import pathlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Collection, Mapping, Sequence

import numpy as np

from hub_core.errors import DataError, InvalidArgumentError, WeightsError
from hub_core.hub.plugin import ModelPlugin
from hub_core.hub.spec import Variant

MODES = ("caffe", "tf", "torch")
PRECISIONS = ("auto", "float32", "bfloat16")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

WeightArrays = dict[str, list[np.ndarray]]


@dataclass(frozen=True)
class Stage:
    """One feature-map stage of a backbone.

    Attributes:
        name: The layer whose output is the stage's feature map.
        stride: Its reduction relative to the input (1, 2, 4...).
    """

    name: str
    stride: int


@dataclass(frozen=True)
class ImageSpec:
    """How one image-classifier network is built; see the module docstring.

    Attributes:
        name: Default model name.
        backbone: ``backbone(x) -> x``, the convolutional trunk.
        head: ``head(x) -> x``, the top without the classifier; None means
            ``GlobalAveragePooling2D(name="avg_pool")``.
        stages: Feature stages, from input to output.
        default_size: Default (and pretrained top) input height and width.
        min_size: Smallest accepted height and width.
        preprocessing: One of ``MODES``.
        classifier_name: Name of the final ``Dense`` layer.
        weight_readers: ``{WeightSet.format: reader(ref, role) -> arrays}``.
        rename_weights: ``rename(arrays) -> arrays`` applied to every file read, or None.
    """

    name: str
    backbone: Callable[[Any], Any]
    head: Callable[[Any], Any] | None = None
    stages: tuple[Stage, ...] = ()
    default_size: int = 224
    min_size: int = 32
    preprocessing: str = "caffe"
    classifier_name: str = "predictions"
    weight_readers: Mapping[str, Callable[..., WeightArrays]] = field(default_factory=dict)
    rename_weights: Callable[[WeightArrays], WeightArrays] | None = None


class ImageClassifierPlugin(ModelPlugin):
    """Base class of the image-classifier plugins: the glue, written once.

    Subclasses set the :class:`~hub_core.hub.plugin.ModelPlugin` metadata plus:

    Attributes:
        model_module: Import path of the module with ``build(variant_name, *,
            weights, **kwargs)`` and ``BLOCK_PREFIXES``; imported on first build.
            A variant's ``options`` are defaults for ``build``'s arguments.
        preprocessing_mode: One of ``MODES``, or ``{variant name: mode}``.
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
        """Build ``variant``; arguments as :func:`build_model` (plus the family's own)."""
        return self._model().build(variant.name, weights=weights, **{**variant.options, **kwargs})

    def mode(self, variant: Variant | None = None) -> str:
        """The preprocessing mode of ``variant`` (the default variant when None)."""
        if isinstance(self.preprocessing_mode, str):
            return self.preprocessing_mode
        return self.preprocessing_mode[(variant or self.variant()).name]

    def preprocess(self, images, variant: Variant | None = None):
        """:func:`preprocess_input` in the variant's mode (numpy, 0..255 RGB in)."""
        return preprocess_input(images, self.mode(variant))

    def blocks(self, model) -> list[list[str]]:
        """Weighted layers grouped by the model module's ``BLOCK_PREFIXES``."""
        return blocks(model, self._model().BLOCK_PREFIXES)

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """``(small_size, small_size, 3)``."""
        return (self.small_size, self.small_size, 3)


# --------------------------------------------------------------------------
# Preprocessing and predictions
# --------------------------------------------------------------------------
def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InvalidArgumentError(f"Unknown preprocessing mode '{mode}'; expected one of {', '.join(MODES)}.")


def _check_data_format(data_format: str | None) -> str:
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise InvalidArgumentError(
            f"data_format must be 'channels_last' or 'channels_first', not '{data_format}'."
        )
    return data_format


def preprocess_input(x: Any, mode: str = "caffe", data_format: str | None = None) -> np.ndarray:
    """Preprocess a batch (or one image) of 0..255 RGB values like keras.applications.

    The result equals ``keras.applications.imagenet_utils.preprocess_input``
    for the same mode, but the input is never written over.

    Args:
        x: Array-like, 3D or 4D, RGB values in 0..255 (any dtype).
        mode: ``"caffe"`` (RGB->BGR, minus the ImageNet mean), ``"tf"``
            (scaled to -1..1) or ``"torch"`` (0..1, then ImageNet mean/std).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        A new float array (float32 unless the input was another float type).

    Raises:
        InvalidArgumentError: For an unknown mode or data format.
    """
    _check_mode(mode)
    data_format = _check_data_format(data_format)
    x = np.asarray(x)
    x = x.astype("float32") if not np.issubdtype(x.dtype, np.floating) else x.copy()
    axis = -1 if data_format == "channels_last" else (0 if x.ndim == 3 else 1)
    shape = [1] * x.ndim
    shape[axis] = 3
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        x -= np.asarray(TORCH_MEAN, x.dtype).reshape(shape)
        x /= np.asarray(TORCH_STD, x.dtype).reshape(shape)
        return x
    x = np.flip(x, axis=axis).copy()
    x -= np.asarray(CAFFE_MEAN_BGR, x.dtype).reshape(shape)
    return x


def preprocessing_layer(mode: str, **kwargs: Any):
    """A Keras layer applying :func:`preprocess_input` (channels-last) in float32.

    Args:
        mode: One of ``MODES``.
        **kwargs: Layer arguments (``name``...).
    """
    _check_mode(mode)
    from hub_core.vision.layers import ImagePreprocessing

    return ImagePreprocessing(mode=mode, **kwargs)


def custom_objects() -> dict[str, Any]:
    """The Keras classes hub_core adds to image models, for ``keras.saving.load_model``."""
    from hub_core.vision.layers import FoldableBatchNormalization, FoldableConv2D, ImagePreprocessing

    return {f"hub_core>{cls.__name__}": cls for cls in (ImagePreprocessing, FoldableConv2D, FoldableBatchNormalization)}


@functools.lru_cache(maxsize=1)
def imagenet_class_index() -> dict[int, tuple[str, str]]:
    """``{index: (wnid, label)}`` for the 1000 ImageNet classes (shipped file)."""
    text = importlib.resources.files("hub_core.vision").joinpath("imagenet_class_index.json").read_text("utf-8")
    return {int(k): (v[0], v[1]) for k, v in json.loads(text).items()}


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top ImageNet classes of a batch of predictions.

    Args:
        preds: Array or tensor of shape ``(batch, 1000)``.
        top: How many classes to return per image.

    Returns:
        One list per image of ``(wnid, label, score)``, best first.

    Raises:
        InvalidArgumentError: When ``preds`` is not ``(batch, 1000)``.
    """
    preds = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise InvalidArgumentError(
            f"decode_predictions expects ImageNet predictions of shape (batch, 1000), got {preds.shape}."
        )
    index = imagenet_class_index()
    results = []
    for pred in preds:
        best = pred.argsort()[-top:][::-1]
        results.append(sorted(((*index[int(i)], float(pred[i])) for i in best), key=lambda r: r[2], reverse=True))
    return results


# --------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _gpu_bf16() -> bool | None:
    """Whether the backend's GPU runs bfloat16 fast (compute capability >= 8.0); None without a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        capabilities = [tuple(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0))) for g in gpus]
        return any(c >= (8, 0) for c in capabilities) if gpus else None
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return any(float(getattr(d, "compute_capability", 0) or 0) >= 8.0 for d in gpus) if gpus else None
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_bf16_supported()) if torch.cuda.is_available() else None
    return None


@functools.lru_cache(maxsize=1)
def bf16_supported() -> bool:
    """Whether bfloat16 runs fast where models run: the GPU if there is one, else a CPU with AVX512_BF16/AMX."""
    gpu = _gpu_bf16()
    if gpu is not None:
        return gpu
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str) -> str:
    """Map ``"auto" | "float32" | "bfloat16"`` to the concrete precision.

    Raises:
        InvalidArgumentError: For any other value.
    """
    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "auto":
        return "bfloat16" if bf16_supported() else "float32"
    return precision


# --------------------------------------------------------------------------
# Argument validation (keras.applications semantics)
# --------------------------------------------------------------------------
def obtain_input_shape(
    input_shape: Sequence[int | None] | None,
    *,
    default_size: int,
    min_size: int,
    require_flatten: bool,
    pretrained: bool,
) -> tuple[int | None, ...]:
    """Validate or default the (channels-last) input shape like keras.applications.

    Args:
        input_shape: The user's shape, or None.
        default_size: Default height and width.
        min_size: Smallest accepted height and width.
        require_flatten: True when the classifier top is built.
        pretrained: True when catalog weights are loaded.

    Returns:
        The input shape without the batch dimension.

    Raises:
        InvalidArgumentError: When the shape is not allowed.
    """
    input_shape = tuple(input_shape) if input_shape is not None else None
    if input_shape is not None and len(input_shape) != 3:
        raise InvalidArgumentError(f"input_shape must be (height, width, channels), got {input_shape}.")
    channels = input_shape[-1] if input_shape and not pretrained else 3
    if input_shape and not pretrained and channels not in (1, 3):
        warnings.warn(f"This model usually expects 1 or 3 input channels, got input_shape={input_shape}.", stacklevel=3)
    default_shape = (default_size, default_size, channels)
    if pretrained and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise InvalidArgumentError(
                f"With pretrained weights and include_top=True the input_shape must be {default_shape}, "
                f"got {input_shape}; pass include_top=False to use another size."
            )
        return default_shape
    if input_shape:
        if input_shape[-1] != 3 and pretrained:
            raise InvalidArgumentError(f"Pretrained weights need 3 input channels, got input_shape={input_shape}.")
        if any(size is not None and size < min_size for size in input_shape[:2]):
            raise InvalidArgumentError(f"Input size must be at least {min_size}x{min_size}, got input_shape={input_shape}.")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise InvalidArgumentError(
            f"include_top=True needs a static input_shape, got {input_shape}; give height and width."
        )
    return input_shape


@dataclass(frozen=True)
class _Plan:
    """Validated builder arguments."""

    include_top: bool
    classes: int
    replace_classifier: bool
    stages: tuple[int, ...] | None
    input_shape: tuple[int | None, ...]
    precision: str
    role: str


def _plan(spec: ImageSpec, weights, *, include_top, input_shape, pooling, classes, num_classes,
          classifier_activation, dropout, features, out_indices, precision) -> _Plan:
    weight_set = weights.weight_set if weights is not None else None
    if pooling not in (None, "avg", "max"):
        raise InvalidArgumentError(f"pooling must be None, 'avg' or 'max', not {pooling!r}.")
    if not 0.0 <= float(dropout) < 1.0:
        raise InvalidArgumentError(f"dropout must be in [0, 1), got {dropout}.")
    stages = _stage_indices(spec, features, out_indices)
    if stages is not None:
        if pooling is not None or num_classes is not None:
            raise InvalidArgumentError(
                "features=True returns feature maps, so it takes neither pooling nor num_classes; drop those arguments."
            )
        include_top = False
    if num_classes is not None:
        if not include_top:
            raise InvalidArgumentError("num_classes replaces the classifier, so it needs include_top=True.")
        if classes is not None and classes != num_classes:
            raise InvalidArgumentError(
                f"classes={classes} and num_classes={num_classes} disagree; pass only num_classes."
            )
        if int(num_classes) < 1:
            raise InvalidArgumentError(f"num_classes must be a positive integer, got {num_classes}.")
    pretrained_classes = weight_set.num_classes if weight_set is not None else None
    if weight_set is not None and include_top and pretrained_classes is None:
        raise InvalidArgumentError(
            f"Weight set '{weight_set.name}' holds only the convolutional backbone, so it cannot fill the top; "
            "pass include_top=False (with pooling=) or features=True."
        )
    replace_classifier = num_classes is not None and weights is not None and num_classes != pretrained_classes
    default_classes = pretrained_classes or 1000
    classes = int(num_classes if num_classes is not None else (classes if classes is not None else default_classes))
    if weight_set is not None and include_top and not replace_classifier and classes != pretrained_classes:
        raise InvalidArgumentError(
            f"Weight set '{weight_set.name}' has a {pretrained_classes}-class classifier but classes={classes}; "
            f"pass num_classes={classes} to replace only the classifier."
        )
    if weights is not None and include_top and not replace_classifier:
        import keras

        if keras.activations.get(classifier_activation) not in (
            keras.activations.get("softmax"), keras.activations.get(None)
        ):
            raise InvalidArgumentError(
                "With pretrained weights the classifier_activation must be 'softmax' or None, "
                f"not {classifier_activation!r}; pass num_classes= to train a new classifier."
            )
    shape = obtain_input_shape(
        input_shape,
        default_size=spec.default_size,
        min_size=spec.min_size,
        require_flatten=include_top,
        pretrained=weight_set is not None,
    )
    role = "top" if include_top else "notop"
    return _Plan(include_top, classes, replace_classifier, stages, shape, resolve_precision(precision), role)


def _stage_indices(spec: ImageSpec, features: bool, out_indices) -> tuple[int, ...] | None:
    if not features and out_indices is None:
        return None
    if not spec.stages:
        raise InvalidArgumentError(f"Model '{spec.name}' declares no feature stages, so features=True is not available.")
    count = len(spec.stages)
    indices = tuple(range(count)) if out_indices is None else tuple(out_indices)
    bad = [i for i in indices if not isinstance(i, int) or not -count <= i < count]
    if bad or not indices:
        raise InvalidArgumentError(
            f"out_indices must be stage indices in [-{count}, {count}), got {out_indices!r}."
        )
    return tuple(sorted({i % count for i in indices}))


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------
def build_model(
    spec: ImageSpec,
    *,
    weights=None,
    include_top: bool = True,
    input_tensor=None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    num_classes: int | None = None,
    dropout: float = 0.0,
    include_preprocessing: bool = False,
    features: bool = False,
    out_indices: Sequence[int] | None = None,
    precision: str = "float32",
):
    """Build an image classifier (or feature extractor) and load its weights.

    Args:
        spec: The network description.
        weights: A :class:`~hub_core.hub.plugin.WeightsRef`, or None for random init.
        include_top: Build the top and the classifier.
        input_tensor: Optional Keras tensor (``keras.Input`` or a layer's output) to use as input.
        input_shape: ``(height, width, channels)``; defaults as in keras.applications.
        pooling: ``None``, ``"avg"`` or ``"max"`` when ``include_top=False``.
        classes: Classifier width; defaults to the weights' (1000).
        classifier_activation: Activation of the classifier (None for logits).
        name: Model name; defaults to ``spec.name``.
        num_classes: Classifier width; the pretrained classifier is kept when
            it has this many classes and replaced (freshly initialised) when
            not, keeping every other pretrained weight.
        dropout: Dropout rate before the classifier.
        include_preprocessing: Put ``spec.preprocessing`` in the model, so it
            takes raw 0..255 RGB images.
        features: Return the stage feature maps (all stages, or ``out_indices``).
        out_indices: Which stages to return; implies ``features=True``.
        precision: ``"float32"``, ``"bfloat16"`` (mixed) or ``"auto"``; outputs
            are float32 in every case. In bfloat16, each BatchNormalization
            that follows a convolution is folded into it at inference time
            (see :class:`~hub_core.vision.layers.FoldableBatchNormalization`);
            training is unchanged.

    Returns:
        A ``keras.Model``; feature models carry ``feature_info``.

    Raises:
        InvalidArgumentError: For conflicting or out-of-range arguments.
        WeightsError: When the weights cannot be read or do not fit.
    """
    import keras

    plan = _plan(
        spec, weights, include_top=include_top, input_shape=input_shape, pooling=pooling, classes=classes,
        num_classes=num_classes, classifier_activation=classifier_activation, dropout=dropout,
        features=features, out_indices=out_indices, precision=precision,
    )
    previous_policy = keras.config.dtype_policy()
    if plan.precision == "bfloat16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _assemble(spec, plan, input_tensor, pooling, classifier_activation, dropout,
                          include_preprocessing, name or spec.name)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if plan.precision == "bfloat16":
        from hub_core.vision.layers import set_batchnorm_folding

        set_batchnorm_folding(model)
    if weights is not None:
        load_pretrained(model, spec, weights, role=plan.role,
                        replaceable=(spec.classifier_name,) if plan.replace_classifier else ())
    return model


def _assemble(spec, plan, input_tensor, pooling, classifier_activation, dropout, include_preprocessing, name):
    import keras

    if input_tensor is None:
        inputs = x = keras.Input(shape=plan.input_shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        x = input_tensor
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        raise InvalidArgumentError(
            f"input_tensor must be a Keras tensor (from keras.Input or a layer), not {type(input_tensor).__name__}."
        )
    if include_preprocessing:
        x = preprocessing_layer(spec.preprocessing, name="preprocessing", dtype="float32")(x)
    x = spec.backbone(x)
    outputs = x
    if plan.stages is not None:
        trunk = keras.Model(inputs, x)
        outputs = [_float32(trunk.get_layer(spec.stages[i].name).output, spec.stages[i].name) for i in plan.stages]
    elif plan.include_top:
        x = spec.head(x) if spec.head is not None else keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        outputs = keras.layers.Dense(
            plan.classes, activation=classifier_activation, name=spec.classifier_name, dtype="float32"
        )(x)
    else:
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        outputs = _float32(x, "features")
    model = keras.Model(inputs, outputs, name=name)
    if plan.stages is not None:
        model.feature_info = [
            {"name": spec.stages[i].name, "index": i, "stride": spec.stages[i].stride,
             "channels": int(model.get_layer(spec.stages[i].name).output.shape[-1])}
            for i in plan.stages
        ]
    return model


def _float32(tensor, name: str):
    """``tensor`` cast to float32 by a named layer when it is not float32 already."""
    import keras

    if tensor.dtype == "float32":
        return tensor
    return keras.layers.Activation("linear", dtype="float32", name=f"{name}_float32")(tensor)


def feature_info(model) -> list[dict[str, Any]]:
    """Name, stage index, stride and channels of each output of a feature model.

    Args:
        model: A model built with ``features=True`` or ``out_indices=``.

    Raises:
        InvalidArgumentError: When the model is not a feature model.
    """
    info = getattr(model, "feature_info", None)
    if info is None:
        raise InvalidArgumentError(f"Model '{model.name}' is not a feature model; build it with features=True.")
    return [dict(entry) for entry in info]


def blocks(model, prefixes: Sequence[str]) -> list[list[str]]:
    """Weighted layers grouped into fine-tuning blocks, from input to output.

    Each layer joins the group of the first prefix its name starts with; a
    layer matching none forms its own group. Groups keep model order.

    Args:
        model: A built model.
        prefixes: Layer-name prefixes, e.g. ``("block1_", "block2_", "fc")``.
    """
    groups: dict[str, list[str]] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        key = next((p for p in prefixes if layer.name.startswith(p)), layer.name)
        groups.setdefault(key, []).append(layer.name)
    return list(groups.values())


# --------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------
def load_pretrained(model, spec: ImageSpec, ref, *, role: str, replaceable: Collection[str] = ()) -> None:
    """Read ``ref`` (catalog set, path or URL) and assign it to ``model`` by layer name.

    Args:
        model: The built model.
        spec: Its spec (for ``weight_readers`` and ``rename_weights``).
        ref: A :class:`~hub_core.hub.plugin.WeightsRef`.
        role: ``"top"`` or ``"notop"``: which file of a catalog set to use;
            a set with a single file uses it for both.
        replaceable: Layers kept at their initial values when the file has
            no values of their shapes (a classifier with another class count).

    Raises:
        WeightsError: When the file cannot be read or does not fit the model.
    """
    weight_set = ref.weight_set
    if weight_set is not None and weight_set.format in spec.weight_readers:
        arrays = spec.weight_readers[weight_set.format](ref, role)
    else:
        if weight_set is not None and not any(f.role == role for f in weight_set.files):
            role = "top" if any(f.role == "top" for f in weight_set.files) else "default"
        arrays = read_weights(ref.fetch(role))
    if spec.rename_weights is not None:
        arrays = spec.rename_weights(arrays)
    assign_weights(model, arrays, source=ref.label, replaceable=replaceable)


def read_weights(path: str | os.PathLike) -> WeightArrays:
    """Read a weight file into ``{layer_name: [arrays in layer weight order]}``.

    Supported: the legacy Keras h5 layout (root or ``model_weights`` group with
    ``layer_names`` / ``weight_names`` attributes, as the keras-applications
    files), Keras 3 ``.weights.h5`` (``vars`` groups named by their layer) and
    ``.npz`` with keys ``"<layer>/<index>"``.

    Raises:
        WeightsError: When the file is missing, unreadable or of another kind.
    """
    path = pathlib.Path(path)
    if path.suffix == ".npz":
        return _read_npz(path)
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            if "layer_names" in group.attrs or "layer_names0" in group.attrs:
                return _read_legacy_h5(group)
            arrays = _read_keras3_h5(handle)
    except OSError as error:
        raise WeightsError(f"Weights file {path} is not a readable HDF5 file ({error}); re-download or re-export it.") from None
    if not arrays:
        raise WeightsError(
            f"Weights file {path} has neither legacy 'layer_names' nor Keras 3 layer groups; "
            "pass a keras-applications .h5 or a .weights.h5 file."
        )
    return arrays


def _h5_strings(attrs, name: str) -> list[str]:
    values = list(attrs[name]) if name in attrs else []
    chunk = 0
    while f"{name}{chunk}" in attrs:
        values.extend(attrs[f"{name}{chunk}"])
        chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _read_legacy_h5(group) -> WeightArrays:
    arrays = {}
    for layer_name in _h5_strings(group.attrs, "layer_names"):
        layer_group = group[layer_name]
        names = _h5_strings(layer_group.attrs, "weight_names")
        if names:
            arrays[layer_name] = [np.asarray(layer_group[n]) for n in names]
    return arrays


def _read_keras3_h5(handle) -> WeightArrays:
    arrays: WeightArrays = {}

    def visit(path, item):
        if path.rsplit("/", 1)[-1] == "vars" and "name" in item.attrs and len(item):
            name = item.attrs["name"]
            name = name.decode("utf8") if isinstance(name, bytes) else str(name)
            arrays[name] = [np.asarray(item[str(i)]) for i in range(len(item))]

    handle.visititems(visit)
    return arrays


def _read_npz(path: pathlib.Path) -> WeightArrays:
    try:
        with np.load(path, allow_pickle=False) as data:
            entries = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise WeightsError(f"Weights file {path} is not a readable .npz file ({error}).") from None
    arrays: dict[str, dict[int, np.ndarray]] = {}
    for key, value in entries.items():
        layer, _, index = key.rpartition("/")
        if not layer or not index.isdigit():
            raise DataError(f"Weights file {path} has key '{key}'; expected '<layer>/<index>' keys.")
        arrays.setdefault(layer, {})[int(index)] = value
    return {layer: [values[i] for i in sorted(values)] for layer, values in arrays.items()}


def assign_weights(
    model, arrays: Mapping[str, Sequence[np.ndarray]], *, source: str, replaceable: Collection[str] = ()
) -> None:
    """Assign ``arrays`` to every weighted layer of ``model`` by name.

    Weights within a layer follow the legacy h5 order (trainable then
    non-trainable), as the keras-applications files. Layers in the file but
    not in the model are ignored (a no-top model from a top file).

    Args:
        model: The model.
        arrays: ``{layer_name: [arrays]}``.
        source: Name of the weights for messages.
        replaceable: Layer names left at their initial values when the file
            lacks them or has other shapes.

    Raises:
        WeightsError: When a layer is missing from the file or a shape differs;
            nothing is assigned then.
    """
    pending = []
    missing = []
    for layer in model.layers:
        variables = layer.trainable_weights + layer.non_trainable_weights
        if not variables:
            continue
        values = arrays.get(layer.name)
        shapes = [tuple(v.shape) for v in variables]
        found = None if values is None else [tuple(np.shape(v)) for v in values]
        if layer.name in replaceable and shapes != found:
            continue
        if values is None:
            missing.append(layer.name)
            continue
        if shapes != found:
            hint = " pass num_classes= to replace the classifier," if layer.name == model.layers[-1].name else ""
            raise WeightsError(
                f"Weights '{source}' do not fit layer '{layer.name}': the file has shapes {found}, "
                f"the model expects {shapes};{hint} check the variant, input_shape and include_top."
            )
        pending.extend(zip(variables, values))
    if missing:
        raise WeightsError(
            f"Weights '{source}' have no values for layer(s) {', '.join(missing[:5])}"
            f"{' and more' if len(missing) > 5 else ''}; check include_top and that the file belongs to this model."
        )
    for variable, value in pending:
        variable.assign(np.asarray(value, dtype=variable.dtype))
