"""Optimizers of a run: by name (the model's plugin first, then Keras), schedules, layer-wise learning rates."""

from __future__ import annotations

from typing import Any

from hub_core._keras_compat import variable_key
from hub_core.errors import InvalidArgumentError, PluginError


def check_optimizer(model: str, name: str) -> None:
    """Fail now, as training would later, when ``optimizer=name`` means nothing for hub model ``model``.

    A name means the model's plugin's optimizer of that name
    (:meth:`~hub_core.hub.plugin.ModelPlugin.optimizer`, declared as capability
    ``"optimizer:NAME"``), else the Keras optimizer of that name.

    Raises:
        InvalidArgumentError: When neither offers ``name``, saying which plugins do.
    """
    import keras

    from hub_core.hub import catalog, registry
    from hub_core.hub.plugin import optimizer_names

    plugin_name, _ = catalog.resolve(model)
    if name in optimizer_names(registry.get_plugin(plugin_name).capabilities):
        return
    try:
        keras.optimizers.get(name)
    except ValueError:
        raise _unknown_optimizer(name, plugin_name, model) from None


def _unknown_optimizer(name: str, plugin_name: str | None, model: str | None) -> InvalidArgumentError:
    from hub_core.hub import catalog
    from hub_core.hub.plugin import optimizer_names

    offering = {other: sorted(entry["variants"]) for other, entry in catalog.entries().items()
                if name in optimizer_names(entry["capabilities"])}
    if offering:
        models = ", ".join(f"{', '.join(variants)} (plugin {other})" for other, variants in sorted(offering.items()))
        where = f"it is offered for {models}, so train one of those with it or pass"
    else:
        where = "no installed plugin offers it, so pass"
    owner = f"an optimizer of plugin '{plugin_name}' (model {model})" if plugin_name else "an optimizer of this model's plugin"
    return InvalidArgumentError(
        f"Optimizer {name!r} is neither {owner} nor a Keras optimizer; {where} a Keras optimizer name such as 'adam' or 'sgd'."
    )


def _plugin_optimizer(plugin, name: str, learning_rate):
    """``plugin.optimizer(name)`` at ``learning_rate``; a plugin that declares it must return one."""
    optimizer = plugin.optimizer(name, learning_rate=learning_rate)
    if optimizer is None:
        raise PluginError(
            f"Plugin '{plugin.name}' declares the capability 'optimizer:{name}' but its optimizer() returned None; "
            "fix the plugin (the conformance kit's check_named_optimizers shows it) or pick another optimizer."
        )
    return optimizer


def make_optimizer(spec: Any, model, learning_rate: float, schedule: Any, total_steps: int, plugin=None):
    """The optimizer ``spec`` (a name, an Optimizer or a function) at ``learning_rate`` under ``schedule``."""
    import keras

    from hub_core.hub.plugin import optimizer_names

    rate = schedule_of(schedule, learning_rate, total_steps)
    if isinstance(spec, keras.optimizers.Optimizer):
        config = spec.get_config()
        config["learning_rate"] = rate
        return type(spec).from_config(config)
    if isinstance(spec, str):
        if plugin is not None and spec in optimizer_names(plugin.capabilities):
            return _plugin_optimizer(plugin, spec, rate)
        try:
            optimizer = keras.optimizers.get(spec)
        except ValueError:
            raise _unknown_optimizer(spec, plugin.name if plugin else None, None) from None
        config = optimizer.get_config()
        config["learning_rate"] = rate
        return type(optimizer).from_config(config)
    if callable(spec):
        return spec(model, rate)
    raise InvalidArgumentError(f"optimizer must be a name, a keras Optimizer or a function, not {type(spec).__name__}.")


def schedule_of(schedule: Any, learning_rate: float, total_steps: int):
    """The learning rate (a float or a schedule) of ``schedule`` over ``total_steps``."""
    import keras

    if schedule is None or schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule
    raise InvalidArgumentError(f"schedule must be None, 'constant', 'cosine' or a LearningRateSchedule, not {schedule!r}.")


def apply_layer_decay(optimizer, model, multipliers: dict[str, float]) -> None:
    """Scale the learning rate per variable by its layer's multiplier (discriminative learning rates).

    The optimizer instance's ``update_step`` is wrapped, so it keeps its class
    and configuration.
    """
    if not multipliers or all(m == 1.0 for m in multipliers.values()):
        return
    scale = {}
    for layer in model.layers:
        factor = multipliers.get(layer.name, 1.0)
        if factor != 1.0:
            for variable in layer.trainable_variables:
                scale[variable_key(optimizer, variable)] = factor
    inner = optimizer.update_step

    def update_step(gradient, variable, learning_rate):
        factor = scale.get(variable_key(optimizer, variable), 1.0)
        return inner(gradient, variable, learning_rate * factor if factor != 1.0 else learning_rate)

    optimizer.update_step = update_step
