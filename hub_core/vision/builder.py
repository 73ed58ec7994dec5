"""Building image classifiers and feature extractors from an :class:`ImageSpec`, like keras.applications.

``build_model`` owns the ``keras.applications`` builder signature, its
argument validation (``obtain_input_shape`` and the argument plan) and the hub
extras (``num_classes``, ``dropout``, ``include_preprocessing``, ``features``
/ ``out_indices``, ``precision``); ``feature_info`` and ``blocks`` describe a
built model. Keras is imported inside the functions, so importing this module
stays light.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from hub_core.errors import InvalidArgumentError
from hub_core.hub.spec import preprocessing_name
from hub_core.store.readers.hdf5 import WeightArrays
from hub_core.vision.precision import resolve_precision
from hub_core.vision.preprocessing import check_preprocessing, layer_factory
from hub_core.vision.weights import load_pretrained


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
        classes: Classifier width when neither the weights nor ``classes``/``num_classes`` give one.
        classifier: ``classifier(x, classes) -> logits``, the class-sized top of a
            network whose classifier is not a ``Dense`` layer (NIN's 1x1
            convolution plus global average pooling); the builder adds the
            ``classifier_activation``. None means ``Dense(classes)``.
        classifier_name: Name of the layer holding the class-sized weights (the
            ``Dense`` layer, or the layer ``classifier`` names so): the one
            layer swapped when ``num_classes`` differs from the weights'.
        weight_readers: ``{WeightSet.format: reader(ref, role) -> arrays}``.
        rename_weights: ``rename(arrays) -> arrays`` applied to every file read, or None.
    """

    name: str
    backbone: Callable[[Any], Any]
    head: Callable[[Any], Any] | None = None
    stages: tuple[Stage, ...] = ()
    default_size: int = 224
    min_size: int = 32
    classes: int = 1000
    classifier: Callable[[Any, int], Any] | None = None
    classifier_name: str = "predictions"
    weight_readers: Mapping[str, Callable[..., WeightArrays]] = field(default_factory=dict)
    rename_weights: Callable[[WeightArrays], WeightArrays] | None = None


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
    default_classes = pretrained_classes or spec.classes
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
    preprocessing: Any = "caffe",
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
        classes: Classifier width; defaults to the weights' (else ``spec.classes``, 1000 unless set).
        classifier_activation: Activation of the classifier (None for logits).
        name: Model name; defaults to ``spec.name``.
        num_classes: Classifier width; the pretrained classifier is kept when
            it has this many classes and replaced (freshly initialised) when
            not, keeping every other pretrained weight.
        dropout: Dropout rate before the classifier.
        include_preprocessing: Put the ``preprocessing`` in the model, so it
            takes raw 0..255 RGB images.
        preprocessing: The network's input preprocessing, a
            :data:`~hub_core.hub.spec.Preprocessing` declaration (a mode or a
            layer factory); :class:`~hub_core.vision.plugin.ImageClassifierPlugin`
            passes the variant's, the one place a plugin declares it.
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

    check_preprocessing(preprocessing)
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
                          preprocessing if include_preprocessing else None, name or spec.name)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if plan.precision == "bfloat16":
        from hub_core.vision.layers import set_batchnorm_folding

        set_batchnorm_folding(model)
    if weights is not None:
        load_pretrained(model, spec, weights, role=plan.role,
                        replaceable=(spec.classifier_name,) if plan.replace_classifier else ())
    return model


def _assemble(spec, plan, input_tensor, pooling, classifier_activation, dropout, preprocessing, name):
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
    if preprocessing not in (None, "none"):
        x = preprocessing_layer(preprocessing, name="preprocessing", dtype="float32")(x)
    x = spec.backbone(x)
    outputs = x
    if plan.stages is not None:
        trunk = keras.Model(inputs, x)
        outputs = [_float32(trunk.get_layer(spec.stages[i].name).output, spec.stages[i].name) for i in plan.stages]
    elif plan.include_top:
        x = spec.head(x) if spec.head is not None else keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        if spec.classifier is None:
            outputs = keras.layers.Dense(
                plan.classes, activation=classifier_activation, name=spec.classifier_name, dtype="float32"
            )(x)
        else:
            x = spec.classifier(x, plan.classes)
            outputs = keras.layers.Activation(classifier_activation, name=f"{spec.classifier_name}_activation",
                                              dtype="float32")(x)
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



def custom_objects() -> dict[str, Any]:
    """The Keras classes hub_core adds to image models, for ``keras.saving.load_model``."""
    from hub_core.vision.layers import FoldableBatchNormalization, FoldableConv2D, ImagePreprocessing

    return {f"hub_core>{cls.__name__}": cls for cls in (ImagePreprocessing, FoldableConv2D, FoldableBatchNormalization)}


def preprocessing_layer(mode: Any, **kwargs: Any):
    """A Keras layer applying a preprocessing declaration (channels-last), in float32 for a mode.

    Args:
        mode: One of ``MODES`` (an :class:`~hub_core.vision.layers.ImagePreprocessing` layer), or a layer
            factory or its dotted path (the factory's layer, ``kwargs`` ignored).
        **kwargs: Layer arguments (``name``...) of a mode's layer.
    """
    factory = layer_factory(mode)
    if factory is not None:
        try:
            return factory()
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(
                f"Preprocessing factory {preprocessing_name(mode)} failed: {error}; it must take no arguments "
                "and return a Keras layer."
            ) from error
    from hub_core.vision.layers import ImagePreprocessing

    return ImagePreprocessing(mode=mode, **kwargs)


def with_preprocessing(model, preprocessing: Any):
    """``model`` behind a layer applying ``preprocessing``, so it takes raw 0..255 RGB pixels.

    Returns ``model`` itself for ``"none"``; otherwise a new functional model
    named like ``model`` whose first layer is the preprocessing and whose
    second is ``model`` (nested, same weights).
    """
    import keras

    if preprocessing == "none":
        return model
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="pixels")
    outputs = model(preprocessing_layer(preprocessing, name="preprocessing", dtype="float32")(inputs))
    return keras.Model(inputs, outputs, name=model.name)


def raw_pixel_model(plugin, variant, build: Callable[..., Any], **kwargs: Any):
    """``build(**kwargs)`` as a model of raw 0..255 RGB pixels, its declared preprocessing applied exactly once.

    A plugin with the ``"preprocessing"`` capability builds it in (``include_preprocessing=True``); for any
    other, the hub puts ``plugin.preprocessing(variant)`` in front (:func:`with_preprocessing`). Training,
    fine-tuning, ``hub.predict`` and the conformance kit build through here; evaluation and export then take
    the saved model as it is.

    Args:
        plugin: The :class:`~hub_core.hub.plugin.ModelPlugin`.
        variant: Its :class:`~hub_core.hub.spec.Variant`.
        build: Builds the model from keyword arguments (``hub.load`` bound to the name and weights).
        **kwargs: Builder arguments.
    """
    if "preprocessing" in plugin.capabilities:
        return build(**{"include_preprocessing": True, **kwargs})  # include_preprocessing=False: the caller's job
    return with_preprocessing(build(**kwargs), plugin.preprocessing(variant))
