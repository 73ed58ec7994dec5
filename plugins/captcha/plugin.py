"""The ``inverted_captcha`` plugin (folder ``captcha``): glue between the hub and the captcha net of ``model.py``.

Its entry-point name is not ``captcha``: that word is the core's data source (``hub.data.captcha``,
``hub data captcha``), and the core names no plugin.
"""

from __future__ import annotations

from typing import Any, Sequence

from hub_core.hub.plugin import ModelPlugin, Paper, SampleBatch, Variant, WeightsRef
from hub_plugins.captcha.weights import GENERATED

HEADS = 10
INPUT_SHAPE = (28, 280, 3)


class CaptchaPlugin(ModelPlugin):
    """The notes' inverted-character captcha: which of 10 printed Chinese characters are upside down."""

    name = "inverted_captcha"
    task = "image-classification"
    description = "Inverted-character captcha: a small CNN with 10 binary heads (which characters are upside down)."
    license = "Apache-2.0"
    paper = Paper(
        title="机器学习进阶笔记 (Machine learning notes), chapter 9: the inverted-character captcha",
        url="http://hacker.duanshishi.com/",
        authors="Burness (UCloud)",
    )
    default_variant = "captcha_inverted10"
    variants = (
        Variant(
            name="captcha_inverted10",
            input_shape=INPUT_SHAPE,
            num_params=473_986,
            weights=(GENERATED,),
            default_weights="generated",
            description="10 characters in 280x28 RGB; 3 conv stages (8, 32, 64 filters), one vector per character cell "
            "with its neighbours as context, 10 sigmoid heads (1 = inverted), the row read both ways up and the heads "
            "averaged; weights trained here on hub.data.captcha",
            preprocessing="none",  # 0..255 pixels, rescaled inside the model
        ),
    )

    def build(self, variant: Variant, *, weights: WeightsRef | None = None, input_shape: Sequence[int] | None = None,
              classes: int | None = None, dropout: float = 0.2, dtype: str | None = None, both_ways: bool = True,
              **kwargs: Any):
        """Build the net; ``classes`` is the number of heads (characters per image, the training data's labels).

        Args:
            variant: The variant.
            weights: None, the ``generated`` set, or a ``.weights.h5`` file of this net.
            input_shape: ``(height, width, 3)``; default 28x280.
            classes: Heads (default 10); what ``hub.train`` passes from the data's ``class_names``.
            dropout: Dropout before the heads.
            dtype: The layers' dtype policy (``"mixed_bfloat16"`` to train faster on a CPU with bfloat16 units).
            both_ways: Read the row upright and turned by 180 degrees and average the heads (the model's
                docstring); False reads it once, twice as fast, with the same weights.
            **kwargs: ``num_classes`` (a synonym of ``classes``) and ``include_top=True``; others are refused.

        Raises:
            InvalidArgumentError: For other options, or weights with another shape or head count.
        """
        from hub_core.errors import InvalidArgumentError
        from hub_plugins.captcha.model import build_captcha_net
        from hub_plugins.captcha.weights import load_weights

        heads = int(classes or kwargs.pop("num_classes", None) or HEADS)
        if not kwargs.pop("include_top", True):
            raise InvalidArgumentError("captcha_inverted10 has no headless form; it always ends in its binary heads.")
        if kwargs:
            raise InvalidArgumentError(f"Unknown captcha options {sorted(kwargs)}; use input_shape, classes, dropout, "
                                       "dtype and both_ways.")
        shape = tuple(input_shape or variant.input_shape)
        if weights is not None and (heads != HEADS or shape != INPUT_SHAPE) and weights.weight_set is not None:
            raise InvalidArgumentError(f"The '{weights.label}' weights fit {HEADS} heads at {INPUT_SHAPE}; pass "
                                       "weights=None to train another shape or head count.")
        model = build_captcha_net(shape, heads, dropout=dropout, name=variant.name, dtype=dtype, both_ways=both_ways)
        if weights is not None:
            load_weights(model, weights)
        return model

    def sample_batch(self, variant: Variant, *, small: bool = True, batch_size: int = 4, seed: int = 0) -> SampleBatch:
        """Random 28x280 pixel rows with random 10-bit labels and binary cross-entropy."""
        import numpy as np

        rng = np.random.default_rng(seed)
        return SampleBatch(
            inputs=rng.integers(0, 256, size=(batch_size, *INPUT_SHAPE)).astype("float32"),
            targets=rng.integers(0, 2, size=(batch_size, HEADS)).astype("float32"),
            build_kwargs={"input_shape": INPUT_SHAPE, "classes": HEADS},
            loss="binary_crossentropy",
        )

    def decode_predictions(self, variant: Variant, outputs) -> list[dict[str, Any]]:
        """Each row of head probabilities as the inverted positions (0-based) and a one-line label."""
        import numpy as np

        results = []
        for row in np.asarray(outputs, dtype="float32"):
            inverted = [int(i) for i in np.flatnonzero(row > 0.5)]
            label = "inverted: " + (", ".join(map(str, inverted)) if inverted else "none")
            results.append({"label": label, "inverted": inverted, "scores": [float(s) for s in row]})
        return results
