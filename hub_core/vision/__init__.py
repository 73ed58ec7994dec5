"""Shared machinery of the image-classification plugins (a facade over its modules).

Every image plugin describes its network as an :class:`ImageSpec` and calls
:func:`build_model`; this package owns the ``keras.applications`` builder
signature, its argument validation, the hub extras, weight loading and
preprocessing, so no plugin copies them. Importing it imports numpy only;
Keras is imported inside the functions that build or run models, so plugin
metadata modules may import it. Inside hub_core, import the defining module
(``hub_core.vision.builder``...), not this facade.

Modules: ``plugin`` (``ImageClassifierPlugin``), ``builder`` (``Stage``,
``ImageSpec``, ``build_model``, ``obtain_input_shape``, ``feature_info``,
``blocks``, the helpers that name the Keras layers:
``preprocessing_layer``, ``custom_objects``, and ``with_preprocessing``,
``raw_pixel_model``: a model of raw pixels, its declared preprocessing applied
once), ``preprocessing`` (``MODES``, the mean/std constants,
``preprocess_input``, ``apply_preprocessing``, re-exported from
:mod:`hub_core.hub.preprocessing`; ``imagenet_class_index``,
``decode_predictions``), ``precision``
(``bf16_supported``, ``resolve_precision``), ``weights`` (``load_pretrained``,
``assign_weights``; files are read by
:func:`hub_core.store.readers.hdf5.read_weights`), ``layers`` and
``caffe_layers`` (Keras layers; they import Keras), ``imaging`` (image files).

Public API
----------
Specs and building:

* ``Stage(name, stride)``: a feature-map stage; ``name`` is the layer whose
  output is the stage (its channel count is read from the built layer).
* ``ImageSpec(name, backbone, head=None, stages=(), default_size=224,
  min_size=32, classes=1000, classifier=None, classifier_name="predictions",
  weight_readers={}, rename_weights=None)``:

  - ``backbone(x) -> x`` builds the convolutional trunk on the input tensor
    (already preprocessed when ``include_preprocessing=True``);
  - ``head(x) -> x`` builds the family's top *without* the classifier
    (VGG: flatten, fc1, fc2; ResNet: ``GlobalAveragePooling2D(name="avg_pool")``;
    AlexNet: fc6, fc7). None means global average pooling named ``avg_pool``;
  - the classifier ``Dense(classes, name=classifier_name)`` is added here, so
    "replace only the classifier" is implemented once; a network whose
    classifier is not a Dense layer gives ``classifier(x, classes) -> logits``
    instead (NIN: a 1x1 convolution named ``classifier_name``, then global
    average pooling), and the builder adds ``classifier_activation``;
    ``classes`` is the width without weights or ``classes=``;
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
  preprocessing="caffe", features=False, out_indices=None, precision="float32")
  -> keras.Model``; ``preprocessing`` is the declaration (a mode or a layer
  factory) ``include_preprocessing`` bakes in (``ImageClassifierPlugin``
  passes the variant's).
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
  over the input) in caffe, tf and torch mode; ``unit`` scales to 0..1,
  ``none`` copies. ``mode`` is one of ``MODES``.
* ``apply_preprocessing(x, declaration)``: a variant's declaration (a mode
  or a layer factory) on a numpy batch.
* ``preprocessing_layer(declaration)``: the same as a Keras layer
  (``hub_core.vision.layers.ImagePreprocessing`` for a mode, computed in
  float32; the factory's layer otherwise).
* ``raw_pixel_model(plugin, variant, build, **kwargs)``: ``build(**kwargs)``
  taking raw 0..255 pixels, the declared preprocessing inside exactly once
  (``include_preprocessing=True`` for a plugin with the ``preprocessing``
  capability, else ``with_preprocessing(model, declaration)``).
* ``decode_predictions(preds, top=5)``: ``[(wnid, label, score), ...]`` per
  image, from the ImageNet class index shipped as
  ``hub_core/vision/imagenet_class_index.json``.

Plugins:

* ``ImageClassifierPlugin``: a ``ModelPlugin`` base whose ``build``,
  ``blocks`` and ``small_input_shape`` come from class attributes
  ``model_module`` (a module with ``BLOCK_PREFIXES`` and ``spec(variant_name)``
  or, for a family with arguments of its own, ``build(variant_name, *,
  weights, **kwargs)``; either receives the variant's preprocessing
  declaration as ``preprocessing``) and ``small_size``; a plugin then only
  declares its metadata, each variant's ``preprocessing`` included
  (``preprocessing_mode`` is the fallback for variants that declare none).

Helpers:

* ``feature_info(model) -> [{"name", "index", "stride", "channels"}]``.
* ``blocks(model, prefixes) -> [[layer names]]``: weighted layers grouped by
  the first matching name prefix, in model order, for fine-tuning by block.
* ``resolve_precision(precision) -> "float32" | "bfloat16"`` and
  ``bf16_supported()``. Builds in bfloat16 fold BatchNormalization into the
  convolution before it for inference
  (``hub_core.vision.layers.FoldableConv2D``/``FoldableBatchNormalization``,
  ``set_batchnorm_folding``); plugins use those two classes for conv+BN pairs.
* ``custom_objects()``: the Keras classes this package puts into models, for
  ``keras.saving.load_model``.
"""

from __future__ import annotations

from hub_core.store.readers.hdf5 import WeightArrays, read_weights
from hub_core.vision.builder import (
    ImageSpec,
    Stage,
    blocks,
    build_model,
    custom_objects,
    feature_info,
    obtain_input_shape,
    preprocessing_layer,
    raw_pixel_model,
    with_preprocessing,
)
from hub_core.vision.plugin import ImageClassifierPlugin
from hub_core.vision.precision import PRECISIONS, bf16_supported, resolve_precision
from hub_core.vision.preprocessing import (
    CAFFE_MEAN_BGR,
    MODES,
    TORCH_MEAN,
    TORCH_STD,
    apply_preprocessing,
    decode_predictions,
    imagenet_class_index,
    preprocess_input,
)
from hub_core.vision.weights import assign_weights, load_pretrained

__all__ = [
    "CAFFE_MEAN_BGR", "MODES", "PRECISIONS", "TORCH_MEAN", "TORCH_STD", "ImageClassifierPlugin", "ImageSpec", "Stage",
    "WeightArrays", "apply_preprocessing", "assign_weights", "bf16_supported", "blocks", "build_model", "custom_objects",
    "decode_predictions", "feature_info", "imagenet_class_index", "load_pretrained", "obtain_input_shape", "preprocess_input",
    "preprocessing_layer", "raw_pixel_model", "read_weights", "resolve_precision", "with_preprocessing",
]
