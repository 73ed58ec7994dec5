"""Convert foreign (pickled) weight files once into plain ``.npz`` in the cache.

Some published weights exist only as pickles: ``bvlc_alexnet.npy`` and the
caffe-tensorflow exports are ``np.save`` of a dict. They are read once with
:func:`hub_core.store.readers.pickle.load_pickled_arrays` (a restricted unpickler), turned
into ``{layer_name: [arrays]}`` by a plugin's ``read`` function and written
to ``$HUB_CORE_HOME/converted/`` as the ``.npz`` layout that
:func:`hub_core.store.readers.hdf5.read_weights` reads (keys ``"<layer>/<index>"``). Later
loads find the ``.npz`` and never touch pickle again.

The conversion is keyed by the source's path, size and modification time, so
a replaced source is converted again. It is written to a temp file and
renamed into place, so a crash or a refused source never leaves a file in
``converted/``. A conversion never writes more than :data:`MAX_GROWTH` bytes
per byte of its source (uint8 to float32), nor more than
``HUB_CORE_MAX_WEIGHTS_BYTES``: arrays that a pickle references many times
are refused before they are copied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Any, Callable, Mapping, Protocol, Sequence

from hub_core.errors import WeightsError
from hub_core.hub.spec import WeightSet
from hub_core.store.readers import budget

Arrays = Mapping[str, Sequence]
Read = Callable[[pathlib.Path], Arrays]
# Suffixes of user-supplied files that hold pickles and need converting.
PICKLE_SUFFIXES = (".npy", ".pkl", ".pickle")
# Most bytes a conversion writes per byte of its source: float32 arrays from uint8 ones.
MAX_GROWTH = 4


class WeightsSource(Protocol):
    """What the converters need of a :class:`hub_core.hub.plugin.WeightsRef` (a dataclass)."""

    weight_set: WeightSet | None
    location: str | None

    def fetch(self, role: str = "default") -> pathlib.Path:
        """The verified local file of ``role``."""


def converted_path(source: pathlib.Path, tag: str) -> pathlib.Path:
    """Where the conversion of ``source`` by converter ``tag`` is cached."""
    from hub_core.store.cache import converted_dir

    source = source.resolve()
    stat = source.stat()
    key = hashlib.sha256(f"{tag}\0{source}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return converted_dir() / f"{source.stem}-{tag}-{key}.npz"


def write_npz(path: pathlib.Path, arrays: Arrays) -> None:
    """Write ``{layer: [arrays]}`` as ``"<layer>/<index>"`` entries, atomically."""
    import numpy as np

    from hub_core.files import atomic_path

    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.savez(handle, **{f"{layer}/{i}": np.asarray(v) for layer, values in arrays.items() for i, v in enumerate(values)})


def text(key) -> str:
    """A dict key of a pickle as ``str`` (Python 2 pickles may hold bytes)."""
    return key.decode("latin-1") if isinstance(key, bytes) else str(key)


def read_pickled_layers(path: pathlib.Path, split: Callable[[Any], Sequence | None], layout: str) -> dict:
    """Read a pickled ``{layer: params}`` dict with the restricted unpickler.

    Args:
        path: The ``.npy`` (``np.save`` of a dict) or pickle file.
        split: ``split(params) -> [kernel, bias]``, or None when ``params``
            is not laid out as expected.
        layout: The expected layout, for error messages.

    Returns:
        ``{layer_name: [float32 arrays]}``.

    Raises:
        WeightsError: When the restricted unpickler refuses the file, it
            is not a dict of array lists in ``layout``, or its float32 arrays
            would take more than :data:`MAX_GROWTH` times its size or the
            ``HUB_CORE_MAX_WEIGHTS_BYTES`` budget.
    """
    import numpy as np

    from hub_core.store.readers.pickle import load_pickled_arrays

    data = load_pickled_arrays(path)
    if not isinstance(data, dict):
        raise WeightsError(f"{path} holds a {type(data).__name__}, not {layout}; pass a file in that layout.")
    layers = {}
    for layer, params in data.items():
        values = split(params)
        if not values or not all(isinstance(v, np.ndarray) for v in values):
            raise WeightsError(f"{path}: layer '{text(layer)}' is not laid out as {layout}; pass a file in that layout.")
        layers[text(layer)] = values
    total = sum(v.size * 4 for values in layers.values() for v in values)
    allowed = min(MAX_GROWTH * path.stat().st_size, budget.limit())
    if total > allowed:
        raise WeightsError(
            f"Refused to convert {path}: its arrays would take {total} bytes as float32, more than the "
            f"{allowed} bytes a {path.stat().st_size}-byte file can hold; the file repeats arrays or is forged."
        )
    return {layer: [np.asarray(v, dtype="float32") for v in values] for layer, values in layers.items()}


def convert_once(source: pathlib.Path, read: Read, tag: str) -> pathlib.Path:
    """Return the cached ``.npz`` conversion of ``source``, converting it on first use.

    Args:
        source: The foreign file (already fetched and verified).
        read: ``read(source) -> {layer_name: [arrays in Keras layer order]}``.
        tag: Short name of the converter, part of the cache key.

    Returns:
        Path of the ``.npz`` file.

    Raises:
        WeightsError: From ``read``, when the source is refused or malformed,
            or when memory runs out; nothing is written then.
    """
    target = converted_path(source, tag)
    if not target.is_file():
        try:
            write_npz(target, read(source))
        except MemoryError:
            raise budget.out_of_memory(source) from None
    return target


def reader(read: Read, tag: str) -> Callable[[WeightsSource, str], dict]:
    """A ``hub_core.vision`` weight reader for a catalog set in ``read``'s format.

    The reader fetches the set's file, converts it once and reads the ``.npz``.
    """

    def read_catalog_set(ref: WeightsSource, role: str) -> dict:
        from hub_core.store.readers.hdf5 import read_weights

        if not ref.weight_set.published:
            raise WeightsError(f"Weight set '{ref.weight_set.name}' cannot be downloaded: {ref.weight_set.note}")
        return read_weights(convert_once(ref.fetch(role), read, tag))

    return read_catalog_set


def user_ref(ref: WeightsSource | None, read: Read, tag: str) -> WeightsSource | None:
    """Swap a user-supplied pickled file (path or URL) for its ``.npz`` conversion.

    Catalog sets, ``None`` and files of other kinds (``.h5``, ``.npz``) are
    returned unchanged; ``hub_core.vision`` reads those directly.
    """
    if ref is None or ref.weight_set is not None:
        return ref
    if pathlib.PurePosixPath(str(ref.location).split("?", 1)[0]).suffix.lower() not in PICKLE_SUFFIXES:
        return ref
    return dataclasses.replace(ref, location=str(convert_once(ref.fetch(), read, tag)))
