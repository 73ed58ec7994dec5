"""Perceptual losses of Johnson et al. (2016) and Gatys et al. (2015), in ``keras.ops``.

A *feature model* maps RGB pixels in [0, 255] to a dict of VGG activations
keyed by Caffe-style names (``relu3_3``); :func:`vgg_features` builds one with
``hub.load("vgg16", features=True, ...)``, like any user of the hub. :class:`StyleTrainer`
pairs the transform network with a :class:`PerceptualLoss` for ``fit``;
:mod:`hub_plugins.fast_style.style` is what uses it. Every loss below is written
with ``keras.ops`` only, so gradients come from whichever backend Keras runs on.

Normalisation: the activations of VGG layers differ by orders of magnitude
(with the HED weights, the raw Gram error at relu1_2 is 10^8 times that at
relu4_3), so every layer's term is divided by the energy of its target and
each layer counts alike, at any image size:

* content loss: ``mean((F - P)^2) / mean(P^2)`` per layer, summed over layers;
* Gram matrix: ``F^T F / (H * W * C)`` per image;
* style loss: ``mean((G - A)^2) / mean(A^2)`` per layer, summed over layers;
* total variation: mean squared difference of neighbouring pixels in [0, 1].

This module imports Keras when imported; the plugin imports it lazily.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import keras
from keras import ops

JOHNSON_CONTENT_LAYERS = ("relu3_3",)
JOHNSON_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
GATYS_CONTENT_LAYERS = ("relu4_2",)
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_RELU_NAME = re.compile(r"^relu(\d)_(\d)$")


def keras_layer_name(relu_name: str) -> str:
    """Map a Caffe-style activation name to the Keras VGG layer name.

    Keras VGG convolutions include their ReLU, so ``relu3_3`` is the output of
    ``block3_conv3``.

    Raises:
        ValueError: For a name that is not ``relu<block>_<conv>``.
    """
    match = _RELU_NAME.match(relu_name)
    if not match:
        raise ValueError(f"VGG layer names look like 'relu3_3' (block 3, conv 3), got {relu_name!r}.")
    return f"block{match.group(1)}_conv{match.group(2)}"


def feature_model(vgg: keras.Model, layers: Sequence[str]) -> keras.Model:
    """A frozen model from ``vgg``'s input to ``{relu name: activation}``.

    Args:
        vgg: A Keras VGG16/VGG19 with ``blockB_convC`` layer names.
        layers: Caffe-style names (``relu1_2``...).

    Returns:
        A non-trainable ``keras.Model`` whose output is a dict.
    """
    outputs = {name: vgg.get_layer(keras_layer_name(name)).output for name in dict.fromkeys(layers)}
    model = keras.Model(vgg.input, outputs, name="perceptual_features")
    model.trainable = False
    return model


def vgg_features(
    layers: Sequence[str],
    *,
    variant: str = "vgg16",
    weights: Any = "hed_bsds500",
    precision: str = "float32",
) -> keras.Model:
    """The loss network: the hub's VGG, frozen, returning the named activations.

    Args:
        layers: Caffe-style names (``relu3_3``...).
        variant: ``"vgg16"`` or ``"vgg19"`` (a variant of the vgg16 plugin).
        weights: A weight set of that variant (the offline default is the HED
            VGG16 conv weights), a local file, or ``"imagenet"`` when you have it.
        precision: ``"float32"`` or ``"bfloat16"`` (mixed: bfloat16 convolutions, float32
            activations out: the vgg16 plugin's ``precision``), for faster training on CPUs with AMX.

    Returns:
        A frozen model from RGB pixels in [0, 255] to a dict of activations.
    """
    import hub_core as hub

    vgg = hub.load(
        variant, weights=weights, include_top=False, features=True, include_preprocessing=True, input_shape=(None, None, 3),
        precision=precision,
    )
    return feature_model(vgg, layers)


def gram_matrix(features):
    """Gram matrices ``F^T F / (H * W * C)`` of a ``(B, H, W, C)`` batch, shape ``(B, C, C)``."""
    features = ops.cast(features, "float32")
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[3]))
    size = ops.cast(shape[1] * shape[2] * shape[3], "float32")
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / size


def _relative_error(value, target):
    """``mean((value - target)^2) / mean(target^2)``; the denominator carries no gradient."""
    target = ops.cast(target, "float32")
    energy = ops.stop_gradient(ops.mean(ops.square(target))) + 1e-12
    return ops.mean(ops.square(ops.cast(value, "float32") - target)) / energy


def content_loss(generated: Mapping[str, Any], target: Mapping[str, Any], layers: Sequence[str]):
    """Relative squared feature error, summed over ``layers``."""
    return ops.sum(ops.stack([_relative_error(generated[k], target[k]) for k in layers]))


def style_loss(generated: Mapping[str, Any], target_grams: Mapping[str, Any], layers: Sequence[str]):
    """Relative squared Gram error (target grams broadcast over the batch), summed over ``layers``."""
    return ops.sum(ops.stack([_relative_error(gram_matrix(generated[k]), target_grams[k]) for k in layers]))


def total_variation(images):
    """Mean squared difference of vertically and horizontally adjacent pixels, in [0, 1] units."""
    images = ops.cast(images, "float32") / 255.0
    dy = images[:, 1:, :, :] - images[:, :-1, :, :]
    dx = images[:, :, 1:, :] - images[:, :, :-1, :]
    return ops.mean(ops.square(dy)) + ops.mean(ops.square(dx))


class PerceptualLoss:
    """Weighted content + style + total-variation loss against one style image.

    Args:
        features: A feature model (see :func:`feature_model`) that returns at
            least ``content_layers`` and ``style_layers``.
        style_image: The style, RGB pixels in [0, 255], ``(H, W, 3)``.
        content_layers: Layers compared with the content image.
        style_layers: Layers whose Gram matrices are matched.
        content_weight: Weight of the content loss.
        style_weight: Weight of the style loss.
        tv_weight: Weight of the total-variation loss.

    Calling it with ``(content_images, generated_images)`` returns a dict with
    ``loss`` (the weighted total) and the unweighted ``content``, ``style`` and
    ``tv`` terms.
    """

    def __init__(
        self,
        features: keras.Model,
        style_image,
        *,
        content_layers: Sequence[str] = JOHNSON_CONTENT_LAYERS,
        style_layers: Sequence[str] = JOHNSON_STYLE_LAYERS,
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
    ):
        self.features = features
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        style = ops.expand_dims(ops.convert_to_tensor(style_image, dtype="float32"), 0)
        style_features = features(style)
        self.style_grams = {k: ops.stop_gradient(gram_matrix(style_features[k])) for k in self.style_layers}

    def terms(self, generated_features: Mapping[str, Any], content_features: Mapping[str, Any], generated) -> dict:
        """The weighted total and its unweighted terms from precomputed features."""
        content = content_loss(generated_features, content_features, self.content_layers)
        style = style_loss(generated_features, self.style_grams, self.style_layers)
        tv = total_variation(generated)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"loss": total, "content": content, "style": style, "tv": tv}

    def __call__(self, content_images, generated) -> dict:
        """Losses of ``generated`` images made from ``content_images`` (both in [0, 255])."""
        batch = ops.shape(generated)[0]
        both = self.features(ops.concatenate([ops.cast(generated, "float32"), ops.cast(content_images, "float32")], 0))
        generated_features = {k: v[:batch] for k, v in both.items()}
        content_features = {k: ops.stop_gradient(both[k][batch:]) for k in self.content_layers}
        return self.terms(generated_features, content_features, generated)


@keras.saving.register_keras_serializable(package="fast_style")
class StyleTrainer(keras.Model):
    """The transform network with its perceptual loss, for ``fit`` (any backend's train step).

    ``call`` runs the transform network; ``compute_loss`` applies the
    :class:`PerceptualLoss` to ``(x, y_pred)`` and tracks its ``content``,
    ``style`` and ``tv`` terms as metrics. The loss network is not tracked, so
    saving the trainer saves only the transform network (a reloaded trainer
    stylises but has no loss).

    Args:
        transform: The transform network.
        perceptual: The loss; None for inference only.
        **kwargs: Standard model arguments.
    """

    def __init__(self, transform: keras.Model, perceptual: PerceptualLoss | None = None, **kwargs):
        super().__init__(**kwargs)
        self.transform = transform
        self._perceptual = perceptual  # a plain object: Keras does not track (or save) the loss network
        self.term_trackers = {name: keras.metrics.Mean(name=name) for name in ("content", "style", "tv")}
        self.built = True  # the functional transform network is built already

    def call(self, inputs, training=False):
        return self.transform(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        perceptual = self._perceptual
        if perceptual is None:
            raise ValueError("This StyleTrainer was loaded without its perceptual loss; train with hub.train_style.")
        terms = perceptual(x, y_pred)
        for name, tracker in self.term_trackers.items():
            tracker.update_state(terms[name])
        return terms["loss"]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "transform": keras.saving.serialize_keras_object(self.transform)}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        transform = keras.saving.deserialize_keras_object(config.pop("transform"))
        return cls(transform, **config)
