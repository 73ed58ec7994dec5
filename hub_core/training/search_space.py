"""Search spaces of ``hub.sweep``: parameter specs, the default spaces, and a trial's training options.

A space maps parameter names to specs: ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``, ``int:LOW:HIGH`` or
choices ``a,b,c``. A name that is a field of :class:`~hub_core.training.options.FitOptions` is that training
option; ``weight_decay`` is the optimizer's; ``model`` picks the model (a variant) of each trial; any other name
is a builder argument of the model (``model_kwargs``), which is how a plugin's own parameters
(:meth:`~hub_core.hub.plugin.ModelPlugin.search_space`) reach its ``build``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from hub_core.errors import InvalidArgumentError
from hub_core.training.options import FitOptions

# The default spaces: what the notes search when fine-tuning, and when training from scratch.
DEFAULT_SPACES = {
    "fine_tune": {"learning_rate": "loguniform:1e-4:1e-2", "strategy": "head,two_phase", "unfreeze": "int:1:3",
                  "label_smoothing": "uniform:0.0:0.2"},
    "train": {"learning_rate": "loguniform:1e-4:1e-2", "batch_size": "16,32,64", "weight_decay": "loguniform:1e-6:1e-3"},
}
_FIT_FIELDS = frozenset(field.name for field in dataclasses.fields(FitOptions))
# Options a sweep sets itself, per trial.
_SWEEP_OWNED = ("run_dir", "epochs", "resume", "overwrite")


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched parameter.

    Attributes:
        name: The parameter (a training option, ``weight_decay``, ``model`` or a builder argument).
        kind: ``"loguniform"``, ``"uniform"``, ``"int"`` or ``"choice"``.
        low: Lower bound (not for choices).
        high: Upper bound (not for choices).
        choices: The values of a ``"choice"``.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial) -> Any:
        """The value of this parameter for an Optuna ``trial``."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "loguniform")

    def spec(self) -> str:
        """The text form (``loguniform:0.0001:0.01``, ``head,two_phase``)."""
        if self.kind == "choice":
            return ",".join(str(c) for c in self.choices)
        return f"{self.kind}:{self.low:g}:{self.high:g}"


def parse_param(name: str, spec: str | Param) -> Param:
    """A :class:`Param` from its text form.

    Args:
        name: The parameter's name.
        spec: ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``, ``int:LOW:HIGH`` or choices ``a,b,c``
            (numbers and ``true``/``false`` are converted; one value fixes the parameter).

    Returns:
        The parameter.

    Raises:
        InvalidArgumentError: For a malformed spec.
    """
    if isinstance(spec, Param):
        return spec
    text = str(spec).strip()
    kind, _, bounds = text.partition(":")
    if kind in ("loguniform", "uniform", "int"):
        try:
            low, high = (float(b) for b in bounds.split(":"))
        except ValueError:
            low = high = None
        if low is None or not low < high or (kind == "loguniform" and low <= 0) or (kind == "int" and not (low.is_integer() and high.is_integer())):
            raise InvalidArgumentError(
                f"The search space of {name!r} is {text!r}; write {kind}:LOW:HIGH with LOW < HIGH"
                f"{' (both above 0)' if kind == 'loguniform' else ' (integers)' if kind == 'int' else ''}, "
                f"for example {kind}:{'1e-4:1e-2' if kind == 'loguniform' else '0:3' if kind == 'int' else '0.0:0.5'}."
            )
        return Param(name, kind, low, high)
    choices = tuple(_value(c.strip()) for c in text.split(",") if c.strip())
    if not choices or ":" in text:
        raise InvalidArgumentError(f"The search space of {name!r} is {text!r}; write loguniform:LOW:HIGH, uniform:LOW:HIGH, "
                                   "int:LOW:HIGH or choices a,b,c.")
    return Param(name, "choice", choices=choices)


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_space(space: Mapping[str, str | Param]) -> dict[str, Param]:
    """``{name: Param}`` from ``{name: spec}`` (see :func:`parse_param`)."""
    return {name: parse_param(name, spec) for name, spec in space.items()}


def default_space(model: Any, task: str = "fine_tune", epochs: int = 2) -> dict[str, Param]:
    """The task's default space plus what a named model's plugin declares (its ``search_space(variant)``).

    Args:
        model: A hub model name, or anything else (then the task's default alone).
        task: ``"fine_tune"`` or ``"train"``.
        epochs: Epochs per trial: with one, fine-tuning searches the ``head`` strategy alone (``two_phase``
            needs two).

    Returns:
        ``{name: Param}``.
    """
    space = dict(DEFAULT_SPACES[task])
    if task == "fine_tune" and epochs < 2:
        space["strategy"] = "head"
    if isinstance(model, str) and not os.path.exists(model):
        from hub_core.hub import catalog, registry

        plugin_name, variant = catalog.resolve(model)
        plugin = registry.get_plugin(plugin_name)
        space.update(plugin.search_space(plugin.variant(variant)) or {})
    return parse_space(space)


def trial_options(params: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``hub.fine_tune``/``hub.train`` for one trial's ``params``.

    Args:
        params: The trial's parameter values.
        options: The sweep's other training options.

    Returns:
        ``options`` with each parameter in place: training options as themselves, ``weight_decay`` in the
        optimizer, any other name (but ``model``) in ``model_kwargs``.
    """
    merged = dict(options)
    builder = dict(merged.get("model_kwargs") or {})
    for name, value in params.items():
        if name == "model":
            continue
        if name in _FIT_FIELDS:
            merged[name] = value
        elif name == "weight_decay":
            merged["optimizer"] = _with_weight_decay(merged.get("optimizer", "adam"), float(value))
        else:
            builder[name] = value
    if builder:
        merged["model_kwargs"] = builder
    return merged


def _with_weight_decay(optimizer: Any, weight_decay: float):
    """A Keras optimizer (a name or an instance) with decoupled weight decay ``weight_decay``."""
    import keras

    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get(optimizer)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise InvalidArgumentError("weight_decay can be searched with an optimizer name or a keras Optimizer, "
                                   f"not {type(optimizer).__name__}; pass optimizer='adam' (or another name).")
    config = optimizer.get_config()
    config["weight_decay"] = weight_decay
    return type(optimizer).from_config(config)
