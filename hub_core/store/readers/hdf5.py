"""Weight files read into ``{layer_name: [arrays in layer weight order]}`` (numpy and h5py only).

Read here: the legacy Keras h5 layout (the keras-applications files), Keras 3
``.weights.h5`` and ``.npz`` files with ``"<layer>/<index>"`` keys (what
:mod:`hub_core.store.converters` writes). Assigning the arrays to a model is
:func:`hub_core.vision.weights.assign_weights`.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from hub_core.errors import DataError, WeightsError
from hub_core.store.readers.numpy import load_npz

WeightArrays = dict[str, list[np.ndarray]]


def read_weights(path: str | os.PathLike) -> WeightArrays:
    """Read a weight file into ``{layer_name: [arrays in layer weight order]}``.

    Supported: the legacy Keras h5 layout (root or ``model_weights`` group with
    ``layer_names`` / ``weight_names`` attributes, as the keras-applications
    files), Keras 3 ``.weights.h5`` (``vars`` groups named by their layer) and
    ``.npz`` with keys ``"<layer>/<index>"``.

    Args:
        path: The weight file.

    Returns:
        The arrays of each layer, by layer name.

    Raises:
        WeightsError: When the file is missing, unreadable or of another kind.
        DataError: When an ``.npz`` file has keys of another form.
    """
    path = pathlib.Path(path)
    if path.suffix == ".npz":
        return _read_npz(path)
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            if "layer_names" in group.attrs or "layer_names0" in group.attrs:
                return _read_legacy_h5(group)
            arrays = _read_keras3_h5(handle)
    except OSError as error:
        raise WeightsError(f"Weights file {path} is not a readable HDF5 file ({error}); re-download or re-export it.") from None
    if not arrays:
        raise WeightsError(
            f"Weights file {path} has neither legacy 'layer_names' nor Keras 3 layer groups; "
            "pass a keras-applications .h5 or a .weights.h5 file."
        )
    return arrays


def _h5_strings(attrs, name: str) -> list[str]:
    values = list(attrs[name]) if name in attrs else []
    chunk = 0
    while f"{name}{chunk}" in attrs:
        values.extend(attrs[f"{name}{chunk}"])
        chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _read_legacy_h5(group) -> WeightArrays:
    arrays = {}
    for layer_name in _h5_strings(group.attrs, "layer_names"):
        layer_group = group[layer_name]
        names = _h5_strings(layer_group.attrs, "weight_names")
        if names:
            arrays[layer_name] = [np.asarray(layer_group[n]) for n in names]
    return arrays


def _read_keras3_h5(handle) -> WeightArrays:
    arrays: WeightArrays = {}

    def visit(path, item):
        if path.rsplit("/", 1)[-1] == "vars" and "name" in item.attrs and len(item):
            name = item.attrs["name"]
            name = name.decode("utf8") if isinstance(name, bytes) else str(name)
            arrays[name] = [np.asarray(item[str(i)]) for i in range(len(item))]

    handle.visititems(visit)
    return arrays


def _read_npz(path: pathlib.Path) -> WeightArrays:
    arrays: dict[str, dict[int, np.ndarray]] = {}
    for key, value in load_npz(path).items():
        layer, _, index = key.rpartition("/")
        if not layer or not index.isdigit():
            raise DataError(f"Weights file {path} has key '{key}'; expected '<layer>/<index>' keys.")
        arrays.setdefault(layer, {})[int(index)] = value
    return {layer: [values[i] for i in sorted(values)] for layer, values in arrays.items()}
