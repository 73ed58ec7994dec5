"""GoogLeNet (Inception v1) in plain Keras 3, as BVLC's Caffe model.

Layer for layer ``models/bvlc_googlenet/train_val.prototxt``: the stem with
symmetric padding and LRN, nine inception modules, ceil-mode max pools
between the stages, global average pool, dropout 0.4 and the classifier.
Caffe's layer names are kept with ``/`` written as ``_`` (``conv1/7x7_s2`` is
``conv1_7x7_s2``), the same keys as the caffe-tensorflow export.

Every branch of a module keeps the spatial size (1x1; 3x3 pad 1; 5x5 pad 2;
3x3/1 max pool pad 1), so the four branches always concatenate.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import layers

from hub_core import vision

from hub_core.store import converters
from hub_core.errors import InvalidArgumentError
from hub_core.vision.caffe_layers import CaffeMaxPooling2D, LocalResponseNormalization
from hub_core.training import Task, infer_loss
from hub_plugins.googlenet import weights as googlenet_weights

# Filters of each module: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj (Szegedy et al., Table 1).
MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
LRN = dict(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75)
DROPOUT = 0.4
AUX_DROPOUT = 0.7
# The paper adds each auxiliary loss to the total with weight 0.3.
AUX_LOSS_WEIGHT = 0.3
# The auxiliary classifiers read these module outputs (loss1 and loss2 in Caffe).
AUX_TAPS = {"loss1": "inception_4a_output", "loss2": "inception_4d_output"}
BLOCK_PREFIXES = ("conv1_", "conv2_", *(f"inception_{m}_" for m in MODULES), "loss1_", "loss2_", "loss3_")
# Feature stages: (layer, stride).
STAGES = (
    ("conv1_7x7_s2", 2),
    ("conv2_3x3", 4),
    ("inception_3b_output", 8),
    ("inception_4e_output", 16),
    ("inception_5b_output", 32),
)


def _conv(x, filters: int, kernel: int, name: str, strides: int = 1):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu", name=name)(x)


def inception(x, name: str):
    """One inception module with dimension reduction; ``name`` is ``"3a"`` ... ``"5b"``."""
    f1, f3r, f3, f5r, f5, fp = MODULES[name]
    prefix = f"inception_{name}"
    branch1 = _conv(x, f1, 1, f"{prefix}_1x1")
    branch3 = _conv(_conv(x, f3r, 1, f"{prefix}_3x3_reduce"), f3, 3, f"{prefix}_3x3")
    branch5 = _conv(_conv(x, f5r, 1, f"{prefix}_5x5_reduce"), f5, 5, f"{prefix}_5x5")
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{prefix}_pool")(x)
    branchp = _conv(pool, fp, 1, f"{prefix}_pool_proj")
    return layers.Concatenate(axis=-1, name=f"{prefix}_output")([branch1, branch3, branch5, branchp])


def backbone(x):
    """Stem, the nine inception modules and the pools between them (stride 32, 1024 channels)."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)  # Caffe pads 3 each side; "same" would pad 2 and 3
    x = layers.Conv2D(64, 7, strides=2, activation="relu", name="conv1_7x7_s2")(x)
    x = CaffeMaxPooling2D(3, 2, name="pool1_3x3_s2")(x)
    x = LocalResponseNormalization(**LRN, name="pool1_norm1")(x)
    x = _conv(x, 64, 1, "conv2_3x3_reduce")
    x = _conv(x, 192, 3, "conv2_3x3")
    x = LocalResponseNormalization(**LRN, name="conv2_norm2")(x)
    for stage, pool in (("3", "pool2_3x3_s2"), ("4", "pool3_3x3_s2"), ("5", "pool4_3x3_s2")):
        x = CaffeMaxPooling2D(3, 2, name=pool)(x)
        for module in (m for m in MODULES if m[0] == stage):
            x = inception(x, module)
    return x


def head(x):
    """Global average pool (Caffe's 7x7 pool5 at 224x224) and dropout 0.4; vision adds the classifier."""
    x = layers.GlobalAveragePooling2D(name="pool5_7x7_s1")(x)
    return layers.Dropout(DROPOUT, name="pool5_drop_7x7_s1")(x)


def aux_classifier(x, prefix: str, classes: int, classifier_activation, dtype=None):
    """An auxiliary head: 5x5/3 average pool, 1x1 conv 128, fc 1024, dropout 0.7, classifier (float32)."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{prefix}_ave_pool", dtype=dtype)(x)
    x = layers.Conv2D(128, 1, activation="relu", name=f"{prefix}_conv", dtype=dtype)(x)
    x = layers.Flatten(name=f"{prefix}_flatten", dtype=dtype)(x)
    x = layers.Dense(1024, activation="relu", name=f"{prefix}_fc", dtype=dtype)(x)
    x = layers.Dropout(AUX_DROPOUT, name=f"{prefix}_drop_fc", dtype=dtype)(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{prefix}_classifier", dtype="float32")(x)


class AuxiliaryLossTask(Task):
    """Training hook of the aux model (``model.hub_task``): main loss + 0.3 x each aux loss."""

    def compile(self, model, optimizer, *, sample_targets, label_smoothing: float = 0.0) -> None:
        """Compile with the inferred per-output losses and metrics, weighted 1, 0.3, 0.3."""
        loss, metrics = infer_loss(model, sample_targets, label_smoothing)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                      loss_weights=[1.0] + [AUX_LOSS_WEIGHT] * len(AUX_TAPS))


@functools.lru_cache(maxsize=1)
def spec() -> vision.ImageSpec:
    """The :class:`~hub_core.vision.ImageSpec` of GoogLeNet."""
    return vision.ImageSpec(
        name="googlenet",
        backbone=backbone,
        head=head,
        stages=tuple(vision.Stage(name, stride) for name, stride in STAGES),
        default_size=224,
        min_size=32,
        classifier_name="loss3_classifier",
        weight_readers={googlenet_weights.FORMAT: converters.reader(googlenet_weights.read_caffe_tensorflow, googlenet_weights.TAG)},
    )


def build(variant: str = "googlenet", *, weights=None, aux_logits: bool = False, **kwargs: Any):
    """Build GoogLeNet with the keras.applications signature plus the hub extras.

    Args:
        variant: The variant name (GoogLeNet has one).
        weights: Resolved weights; a user-supplied caffe-tensorflow ``.npy`` is
            converted once to ``.npz``.
        aux_logits: Add the two auxiliary classifiers (for training): the model
            then outputs ``[main, loss1, loss2]``, takes targets ``(y, y, y)``
            and carries a ``hub_task`` that weights the aux losses by 0.3 in
            ``hub.train``/``hub.fine_tune``. They start from random values; a
            model built without them later ignores their weights.
        **kwargs: As :func:`hub_core.vision.build_model`.

    Raises:
        InvalidArgumentError: When ``aux_logits`` is combined with a headless
            or feature model, or the input is too small for the aux heads.
    """
    weights = converters.user_ref(weights, googlenet_weights.read_caffe_tensorflow, googlenet_weights.TAG)
    model = vision.build_model(spec(), weights=weights, **kwargs)
    if not aux_logits:
        return model
    if not kwargs.get("include_top", True) or kwargs.get("features") or kwargs.get("out_indices") is not None:
        raise InvalidArgumentError("aux_logits=True adds classifiers, so it needs include_top=True and no features; drop one.")
    taps = [model.get_layer(AUX_TAPS[prefix]).output for prefix in AUX_TAPS]
    if any(size is not None and size < 5 for tap in taps for size in tap.shape[1:3]):
        raise InvalidArgumentError(
            f"aux_logits=True needs a 14x14 inception_4a map at 224x224 (at least 5x5), got {tuple(taps[0].shape[1:3])}; "
            "use a larger input_shape."
        )
    dtype = "mixed_bfloat16" if vision.resolve_precision(kwargs.get("precision", "float32")) == "bfloat16" else None
    classes, activation = model.output.shape[-1], model.layers[-1].activation
    aux = [aux_classifier(tap, prefix, classes, activation, dtype) for prefix, tap in zip(AUX_TAPS, taps)]
    aux_model = keras.Model(model.inputs, [model.output, *aux], name=model.name)
    aux_model.hub_task = AuxiliaryLossTask()
    return aux_model
