"""Neural style transfer: fast stylisation (Johnson et al.), Gatys optimisation, training.

``stylize(model, image)`` runs a trained transform network (large images in
overlapping tiles); ``stylize(content, style, method="optimize")`` optimises the
pixels of one image against a style (Gatys et al.); ``train_style`` trains a
transform network for one style on the shared training loop.

Example:
    >>> import hub_core as hub
    >>> out = hub.stylize(hub.load("fast_style", weights="runs/starry"), "photo.jpg")
    >>> art = hub.stylize("photo.jpg", "starry_night.jpg", method="optimize", steps=200)
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from hub_core.errors import InvalidArgumentError

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
METHODS = ("fast", "optimize")
OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_MAX_PIXELS = 1024 * 1024
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 128
TILE_ALIGN = 4  # the transform network downsamples by 4


def stylize(
    model_or_content: Any,
    image_or_style: Any,
    *,
    size: int | tuple[int, int] | None = None,
    method: str = "fast",
    steps: int = 200,
    content_layer: str = "relu4_2",
    style_layers: Sequence[str] = GATYS_STYLE_LAYERS,
    optimizer: str = "lbfgs",
    content_weight: float = 1.0,
    style_weight: float = 1e3,
    tv_weight: float = 10.0,
    learning_rate: float = 5.0,
    loss_network: str = "vgg16",
    loss_weights: Any = "hed_bsds500",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile_size: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    callback: Callable[[int, dict], None] | None = None,
):
    """Stylise an image with a trained network, or by Gatys optimisation.

    ``method="fast"``: ``stylize(model, image)`` where ``model`` is a fast_style
    ``keras.Model`` (or a run directory / weights file it was saved to) and
    ``image`` a path, PIL image, ``(H, W, 3)`` array, or a list of those. Images
    over ``max_pixels`` are processed in overlapping tiles.

    ``method="optimize"``: ``stylize(content, style, method="optimize")`` starts
    from the content image and minimises ``content_weight * content +
    style_weight * style + tv_weight * tv`` over its pixels with the VGG loss
    network, for ``steps`` iterations of L-BFGS or Adam. The gradients are the
    Keras backend's.

    Args:
        model_or_content: The network (fast) or the content image (optimize).
        image_or_style: The image(s) to stylise (fast) or the style image (optimize).
        size: Resize the image first: longer side in pixels, or ``(h, w)``.
        method: ``"fast"`` or ``"optimize"``.
        steps: Optimisation iterations (optimize).
        content_layer: VGG activation compared with the content (optimize).
        style_layers: VGG activations whose Gram matrices are matched (optimize).
        optimizer: ``"lbfgs"`` (scipy's L-BFGS-B; the result is clipped to [0, 255]) or ``"adam"``.
        content_weight: Weight of the content loss (optimize).
        style_weight: Weight of the style loss (optimize).
        tv_weight: Weight of the total-variation loss (optimize).
        learning_rate: Adam step in pixel units (optimize).
        loss_network: ``"vgg16"`` or ``"vgg19"`` (optimize).
        loss_weights: Weights of the loss network (optimize).
        max_pixels: Memory budget of one forward pass, in pixels (fast).
        tile_size: Tile side when tiling (fast).
        overlap: Overlap of neighbouring tiles, blended linearly (fast).
        callback: Called as ``callback(step, losses)`` during optimisation.

    Returns:
        The stylised image as a ``uint8`` ``(H, W, 3)`` array (a list for a list input).

    Raises:
        InvalidArgumentError: For an unknown method or optimizer, or bad sizes.
        DataError: When an image cannot be read.
    """
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    if method == "optimize":
        return optimize(
            model_or_content, image_or_style, size=size, steps=steps, content_layer=content_layer,
            style_layers=style_layers, optimizer=optimizer, content_weight=content_weight,
            style_weight=style_weight, tv_weight=tv_weight, learning_rate=learning_rate,
            loss_network=loss_network, loss_weights=loss_weights, callback=callback,
        )[0]
    model = _transform_model(model_or_content)
    if isinstance(image_or_style, (list, tuple)):
        return [_stylize_one(model, image, size, max_pixels, tile_size, overlap) for image in image_or_style]
    return _stylize_one(model, image_or_style, size, max_pixels, tile_size, overlap)


def _transform_model(model: Any):
    if isinstance(model, (str, os.PathLike)):
        from hub_core.api import load

        return load("fast_style", weights=os.fspath(model))
    if not hasattr(model, "predict_on_batch"):
        raise InvalidArgumentError(
            f"stylize(method='fast') needs a fast_style model or the run directory/weights file it was saved to, "
            f"not {type(model).__name__}; for Gatys optimisation pass method='optimize'."
        )
    return model


def _stylize_one(model, image, size, max_pixels, tile_size, overlap):
    from hub_plugins.fast_style import preprocessing

    pixels = preprocessing.load_image(image, size)
    return preprocessing.to_uint8(transform(model, pixels, max_pixels=max_pixels, tile_size=tile_size, overlap=overlap))


def transform(model, pixels, *, max_pixels: int = DEFAULT_MAX_PIXELS, tile_size: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP):
    """Run the transform network on one float ``(H, W, 3)`` image, tiling over ``max_pixels``.

    Tiles start at multiples of 4 (the network's stride) and overlap by
    ``overlap`` pixels, where they are blended with linear ramps. A network
    with batch normalisation gives the untiled result away from the seams
    exactly when ``overlap`` covers its receptive field; with instance
    normalisation each tile is normalised on its own statistics, so tiles
    match the untiled output only approximately.

    Returns:
        Float pixels ``(H, W, 3)``.
    """
    import numpy as np

    height, width = pixels.shape[:2]
    if height * width <= max_pixels:
        return np.asarray(model.predict_on_batch(pixels[None]))[0]
    if tile_size % TILE_ALIGN or overlap % TILE_ALIGN or not 0 <= overlap < tile_size:
        raise InvalidArgumentError(
            f"tile_size and overlap must be multiples of {TILE_ALIGN} with 0 <= overlap < tile_size, got {tile_size} and {overlap}."
        )
    output = np.zeros((height, width, 3), dtype="float64")
    total = np.zeros((height, width, 1), dtype="float64")
    for top, bottom in _spans(height, tile_size, overlap):
        for left, right in _spans(width, tile_size, overlap):
            tile = np.asarray(model.predict_on_batch(pixels[None, top:bottom, left:right]))[0]
            weight = np.outer(_ramp(top, bottom, height, overlap), _ramp(left, right, width, overlap))[..., None]
            output[top:bottom, left:right] += weight * tile
            total[top:bottom, left:right] += weight
    return (output / total).astype("float32")


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of tiles covering ``length``; every start but the last is a multiple of the stride."""
    if length <= tile:
        return [(0, length)]
    starts = [*range(0, length - tile, tile - overlap), length - tile]
    return [(start, start + tile) for start in starts]


def _ramp(start: int, stop: int, length: int, overlap: int):
    """Blend weights along one axis: ramps up over ``overlap`` at inner edges only."""
    import numpy as np

    weights = np.ones(stop - start)
    if overlap:
        ramp = (np.arange(overlap) + 0.5) / overlap
        if start > 0:
            weights[:overlap] = np.minimum(weights[:overlap], ramp)
        if stop < length:
            weights[-overlap:] = np.minimum(weights[-overlap:], ramp[::-1])
    return weights


def optimize(
    content: Any,
    style: Any,
    *,
    size: int | tuple[int, int] | None = None,
    steps: int = 200,
    content_layer: str = "relu4_2",
    style_layers: Sequence[str] = GATYS_STYLE_LAYERS,
    optimizer: str = "lbfgs",
    content_weight: float = 1.0,
    style_weight: float = 1e3,
    tv_weight: float = 10.0,
    learning_rate: float = 5.0,
    loss_network: str = "vgg16",
    loss_weights: Any = "hed_bsds500",
    features=None,
    callback: Callable[[int, dict], None] | None = None,
):
    """Gatys et al.'s optimisation; :func:`stylize` with ``method="optimize"`` calls it.

    Args:
        content: Content image (path, PIL image or array).
        style: Style image; resized so its longer side matches the content's.
        features: A ready feature model (see ``hub_plugins.fast_style.losses``)
            to use instead of building ``loss_network``.
        Others: as in :func:`stylize`.

    Returns:
        ``(image, history)``: the ``uint8`` result and the list of loss dicts per step.
    """
    import numpy as np
    from keras import ops

    from hub_plugins.fast_style import losses, preprocessing

    if optimizer not in OPTIMIZERS:
        raise InvalidArgumentError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}.")
    if int(steps) < 1:
        raise InvalidArgumentError(f"steps must be at least 1, got {steps}.")
    content_pixels = preprocessing.load_image(content, size)
    style_pixels = preprocessing.load_image(style, max(content_pixels.shape[:2]))
    layers = (content_layer, *style_layers)
    features = features or losses.vgg_features(layers, variant=loss_network, weights=loss_weights)
    loss = losses.PerceptualLoss(
        features, style_pixels, content_layers=(content_layer,), style_layers=style_layers,
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
    )
    target = {content_layer: features(ops.convert_to_tensor(content_pixels[None]))[content_layer]}

    def objective(image):
        batch = ops.expand_dims(image, 0)
        return loss.terms(features(batch), target, batch)

    value_and_grad = _value_and_grad(objective)
    history: list[dict] = []

    def record(values):
        history.append({k: float(v) for k, v in values.items()})
        if callback is not None:
            callback(len(history), history[-1])

    if optimizer == "adam":
        result = _adam(value_and_grad, content_pixels, steps, learning_rate, record)
    else:
        result = _lbfgs(value_and_grad, content_pixels, steps, record)
    return preprocessing.to_uint8(result), history


def _adam(value_and_grad, start, steps: int, learning_rate: float, record):
    import keras
    import numpy as np
    from keras import ops

    image = keras.Variable(start, dtype="float32", trainable=True, name="stylised_pixels")
    adam = keras.optimizers.Adam(learning_rate=learning_rate)
    for _ in range(int(steps)):
        values, grad = value_and_grad(image.value)
        record(values)
        adam.apply_gradients([(grad, image)])
        image.assign(ops.clip(image.value, 0.0, 255.0))
    return np.asarray(ops.convert_to_numpy(image.value))


def _lbfgs(value_and_grad, start, steps: int, record):
    import numpy as np
    from keras import ops
    from scipy.optimize import minimize

    shape = start.shape

    def fun(flat):
        values, grad = value_and_grad(ops.convert_to_tensor(flat.reshape(shape).astype("float32")))
        record(values)
        return float(values["loss"]), np.asarray(ops.convert_to_numpy(grad), dtype="float64").ravel()

    # Unbounded: L-BFGS-B with [0, 255] bounds stalls on this objective; the result is clipped instead.
    result = minimize(fun, start.astype("float64").ravel(), jac=True, method="L-BFGS-B",
                      options={"maxiter": int(steps), "maxfun": 2 * int(steps)})
    return np.clip(result.x.reshape(shape), 0.0, 255.0)


def _value_and_grad(objective: Callable[[Any], dict]) -> Callable[[Any], tuple[dict, Any]]:
    """``f(x) -> (objective(x), d objective(x)['loss'] / dx)`` with the Keras backend's autodiff."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def tf_value_and_grad(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                values = objective(x)
            return values, tape.gradient(values["loss"], x)

        return tf_value_and_grad
    if backend == "jax":
        import jax

        def with_aux(x):
            values = objective(x)
            return values["loss"], values

        jitted = jax.jit(jax.value_and_grad(with_aux, has_aux=True))

        def jax_value_and_grad(x):
            (_, values), grad = jitted(x)
            return values, grad

        return jax_value_and_grad
    if backend == "torch":
        import torch

        def torch_value_and_grad(x):
            x = x.detach().requires_grad_(True)
            values = objective(x)
            (grad,) = torch.autograd.grad(values["loss"], x)
            return {k: v.detach() for k, v in values.items()}, grad

        return torch_value_and_grad
    raise InvalidArgumentError(f"Style optimisation supports the tensorflow, jax and torch backends, not {backend}.")
