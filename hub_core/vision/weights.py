"""Pretrained weights into an image model: ``load_pretrained`` (read a set, file or URL) and ``assign_weights``.

Files are read by :func:`hub_core.store.readers.hdf5.read_weights`, or by a
spec's ``weight_readers`` for foreign formats.
"""

from __future__ import annotations

from typing import Collection, Mapping, Sequence

import numpy as np

from hub_core.errors import WeightsError
from hub_core.store.readers.hdf5 import read_weights


def load_pretrained(model, spec, ref, *, role: str, replaceable: Collection[str] = ()) -> None:
    """Read ``ref`` (catalog set, path or URL) and assign it to ``model`` by layer name.

    Args:
        model: The built model.
        spec: Its spec (for ``weight_readers`` and ``rename_weights``).
        ref: A :class:`~hub_core.hub.plugin.WeightsRef`.
        role: ``"top"`` or ``"notop"``: which file of a catalog set to use;
            a set with a single file uses it for both.
        replaceable: Layers kept at their initial values when the file has
            no values of their shapes (a classifier with another class count).

    Raises:
        WeightsError: When the file cannot be read or does not fit the model.
    """
    weight_set = ref.weight_set
    if weight_set is not None and weight_set.format in spec.weight_readers:
        arrays = spec.weight_readers[weight_set.format](ref, role)
    else:
        if weight_set is not None and not any(f.role == role for f in weight_set.files):
            role = "top" if any(f.role == "top" for f in weight_set.files) else "default"
        arrays = read_weights(ref.fetch(role))
    if spec.rename_weights is not None:
        arrays = spec.rename_weights(arrays)
    assign_weights(model, arrays, source=ref.label, replaceable=replaceable)



def assign_weights(
    model, arrays: Mapping[str, Sequence[np.ndarray]], *, source: str, replaceable: Collection[str] = ()
) -> None:
    """Assign ``arrays`` to every weighted layer of ``model`` by name.

    Weights within a layer follow the legacy h5 order (trainable then
    non-trainable), as the keras-applications files. Layers in the file but
    not in the model are ignored (a no-top model from a top file).

    Args:
        model: The model.
        arrays: ``{layer_name: [arrays]}``.
        source: Name of the weights for messages.
        replaceable: Layer names left at their initial values when the file
            lacks them or has other shapes.

    Raises:
        WeightsError: When a layer is missing from the file or a shape differs;
            nothing is assigned then.
    """
    pending = []
    missing = []
    classifier = next((layer.name for layer in reversed(model.layers) if layer.weights), None)  # the last weighted
    for layer in model.layers:
        variables = layer.trainable_weights + layer.non_trainable_weights
        if not variables:
            continue
        values = arrays.get(layer.name)
        shapes = [tuple(v.shape) for v in variables]
        found = None if values is None else [tuple(np.shape(v)) for v in values]
        if layer.name in replaceable and shapes != found:
            continue
        if values is None:
            missing.append(layer.name)
            continue
        if shapes != found:
            hint = " pass num_classes= to replace the classifier," if layer.name == classifier else ""
            raise WeightsError(
                f"Weights '{source}' do not fit layer '{layer.name}': the file has shapes {found}, "
                f"the model expects {shapes};{hint} check the variant, input_shape and include_top."
            )
        pending.extend(zip(variables, values))
    if missing:
        raise WeightsError(
            f"Weights '{source}' have no values for layer(s) {', '.join(missing[:5])}"
            f"{' and more' if len(missing) > 5 else ''}; check include_top and that the file belongs to this model."
        )
    for variable, value in pending:
        variable.assign(np.asarray(value, dtype=variable.dtype))
