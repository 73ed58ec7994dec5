"""Phases of a run and what each one trains: the head, unfrozen blocks, BatchNorm, a new classifier."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from hub_core._keras_compat import direct_sublayers, inbound_call_count, is_functional
from hub_core.errors import InvalidArgumentError
from hub_core.training.options import FitOptions

STOCHASTIC_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                     "GaussianDropout", "AlphaDropout")


@dataclasses.dataclass
class Phase:
    """One phase of a run.

    Attributes:
        name: ``"full"``, ``"head"`` or ``"fine_tune"`` (recorded in checkpoints).
        epochs: ``(first, stop)`` epoch range.
        trainable: Names of the layers that train, or None for every layer.
        lr: Learning rate.
        decay: Learning-rate multiplier per layer name (discriminative learning rates).
    """

    name: str
    epochs: tuple[int, int]
    trainable: list[str] | None
    lr: float
    decay: dict[str, float] = dataclasses.field(default_factory=dict)


def plan_phases(model, blocks: list[list[str]], options: FitOptions) -> list[Phase]:
    """The phases of ``options.strategy`` for ``model`` split into ``blocks`` (input to output).

    Raises:
        InvalidArgumentError: When ``two_phase`` leaves no epoch for one of its phases.
    """
    epochs, strategy, lr = int(options.epochs), options.strategy, float(options.learning_rate)
    if strategy == "full":
        return [Phase("full", (0, epochs), None, lr)]
    head = head_layers(model, blocks[-1])
    if strategy == "head":
        return [Phase("head", (0, epochs), head, lr)]
    head_epochs = options.head_epochs or max(1, epochs // 2)
    if not 0 < head_epochs < epochs:
        raise InvalidArgumentError(
            f"two_phase needs head_epochs between 1 and epochs - 1 (got head_epochs={head_epochs}, epochs={epochs}); "
            "use strategy='head' for a single phase."
        )
    unfrozen = blocks[-1 - int(options.unfreeze):-1] if int(options.unfreeze) > 0 else []
    decay = {}
    for depth, block in enumerate(reversed(unfrozen), start=1):
        for layer_name in block:
            decay[layer_name] = 1.0 if options.layer_decay is None else float(options.layer_decay) ** depth
    trainable = head + [name for block in unfrozen for name in block]
    second_lr = options.fine_tune_learning_rate or lr / 10
    return [Phase("head", (0, head_epochs), head, lr),
            Phase("fine_tune", (head_epochs, epochs), trainable, second_lr, decay)]


def with_classifier(backbone, classes: int):
    """``backbone`` followed by a new softmax classifier named ``predictions``."""
    import keras

    outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32", name="predictions")(backbone.output)
    inputs = backbone.inputs[0] if len(backbone.inputs) == 1 else backbone.inputs
    return keras.Model(inputs, outputs, name=backbone.name)


def head_layers(model, last_block: Sequence[str]) -> list[str]:
    """The head: the last block plus stochastic layers (dropout) that feed it directly."""
    head = list(last_block)
    names = [layer.name for layer in model.layers]
    first = min(names.index(n) for n in head if n in names)
    for layer in reversed(model.layers[:first]):
        if type(layer).__name__ not in STOCHASTIC_LAYERS:
            break
        head.insert(0, layer.name)
    return head


def stochastic_layers(model, outside: Sequence[str]) -> list[str]:
    """Names of the stochastic layers (dropout, noise) of ``model`` not named in ``outside``."""
    skip = set(outside)
    return [layer.name for layer in model.layers if layer.name not in skip and type(layer).__name__ in STOCHASTIC_LAYERS]


def set_trainable(model, trainable: Sequence[str] | None, batchnorm: str) -> None:
    """Freeze every layer not named in ``trainable`` (None: all trainable); BatchNorm per ``batchnorm``."""
    model.trainable = True
    if trainable is None and batchnorm == "train":
        return
    names = set(trainable) if trainable is not None else None
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        on = names is None or layer.name in names
        layer.trainable = on
        if on and batchnorm == "frozen":
            for sub in _sublayers(layer):
                if "BatchNormalization" in type(sub).__name__:
                    sub.trainable = False


def _sublayers(layer) -> list:
    found = [layer]
    for sub in direct_sublayers(layer):
        found += _sublayers(sub)
    return found


def split_head(model, head: Sequence[str]) -> tuple[Any, Any] | None:
    """``(feature tensor, head model)`` when the head is a separable tail of a functional model, else None."""
    import keras

    if not is_functional(model) or len(model.inputs) != 1:
        return None
    names = [layer.name for layer in model.layers]
    first = model.layers[min(names.index(n) for n in head if n in names)]
    if inbound_call_count(first) != 1:
        return None
    features_at = first.input
    if isinstance(features_at, (list, tuple)) or features_at is model.inputs[0]:
        return None
    try:
        head_model = keras.Model(features_at, model.outputs, name=f"{model.name}_head")
    except Exception:
        return None
    if {layer.name for layer in head_model.layers if type(layer).__name__ != "InputLayer"} - set(head):
        return None
    return features_at, head_model
