"""Weight files read into ``{layer_name: [arrays in layer weight order]}`` (numpy and h5py only).

Read here: the legacy Keras h5 layout (the keras-applications files), Keras 3
``.weights.h5`` and ``.npz`` files with ``"<layer>/<index>"`` keys (what
:mod:`hub_core.store.converters` writes). Assigning the arrays to a model is
:func:`hub_core.vision.weights.assign_weights`.

Before any array is read, :func:`check_hdf5` refuses what would make h5py
read another file (external storage, external links, virtual datasets),
object references and sizes the file cannot hold; :func:`check_keras_file`
does the same for the weights inside a ``.keras`` file before Keras opens it.
"""

from __future__ import annotations

import io
import os
import pathlib
import struct
import zipfile
from typing import BinaryIO

import numpy as np

from hub_core.errors import DataError, HubError, WeightsError
from hub_core.store.readers.budget import Budget, out_of_memory
from hub_core.store.readers.numpy import check_numpy_file, declared_bytes, load_npz

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
            check_hdf5(handle, path, path.stat().st_size)
            group = handle["model_weights"] if "model_weights" in handle else handle
            if "layer_names" in group.attrs or "layer_names0" in group.attrs:
                return _read_legacy_h5(group)
            arrays = _read_keras3_h5(handle)
    except MemoryError:
        raise out_of_memory(path) from None
    except OSError as error:
        raise WeightsError(f"Weights file {path} is not a readable HDF5 file ({error}); re-download or re-export it.") from None
    if not arrays:
        raise WeightsError(
            f"Weights file {path} has neither legacy 'layer_names' nor Keras 3 layer groups; "
            "pass a keras-applications .h5 or a .weights.h5 file."
        )
    return arrays


def check_hdf5(handle, source: str | os.PathLike, file_size: int) -> None:
    """Refuse an HDF5 file whose reading would leave it or allocate more than it holds.

    Refused: external links, soft links that resolve to nothing in the file,
    datasets stored in other files (external raw storage, virtual datasets),
    object and region references (in datasets and attributes), datasets that
    declare more bytes than their storage holds (compressed: more than
    ``MAX_EXPANSION`` times), storage shared between datasets, and a total
    over ``HUB_CORE_MAX_WEIGHTS_BYTES``. Only metadata is read.

    Args:
        handle: The open ``h5py.File``.
        source: The file's name for messages.
        file_size: The file's size in bytes.

    Raises:
        WeightsError: Naming ``source`` and the link, dataset or attribute.
    """
    from h5py import h5d, h5l, h5o

    def refuse(name: bytes | str, what: str) -> WeightsError:
        name = name.decode("utf8", "replace") if isinstance(name, bytes) else name
        return WeightsError(f"Refused to read {source}: '{name}' {what}; weight files must hold their own plain arrays.")

    # The low-level API (h5l, h5o, h5d): metadata only, and fast. Entries are gathered
    # before they are checked, because h5py cannot raise out of a visit callback.
    links: list[tuple[bytes, int]] = []
    handle.id.links.visit(lambda name, info: links.append((name, info.type)), info=True)
    for name, kind in links:
        if kind == h5l.TYPE_EXTERNAL:
            filename, _ = handle.id.links.get_val(name)
            raise refuse(name, f"is an external link to '{filename.decode('utf8', 'replace')}'")
        if kind not in (h5l.TYPE_HARD, h5l.TYPE_SOFT):
            raise refuse(name, "is a user-defined link")
    for name, kind in links:  # safe to resolve now: no link leads out of the file
        if kind == h5l.TYPE_SOFT and handle.get(name.decode("utf8")) is None:
            raise refuse(name, f"is a soft link to '{handle.id.links.get_val(name).decode('utf8', 'replace')}', which is not in the file")
    objects: list[tuple[bytes, int, int]] = []
    h5o.visit(handle.id, lambda name, info: objects.append((name, info.type, info.num_attrs)), info=True)
    budget = Budget(source)
    stored_total = 0
    _check_attributes(handle.id, b"", h5o.get_info(handle.id).num_attrs, refuse)
    for name, kind, num_attrs in objects:
        if num_attrs:
            _check_attributes(h5o.open(handle.id, name), name, num_attrs, refuse)
        if kind != h5o.TYPE_DATASET:
            continue
        dataset = h5d.open(handle.id, name)
        plist = dataset.get_create_plist()
        if plist.get_external_count():
            files = ", ".join(plist.get_external(i)[0].decode("utf8", "replace") for i in range(plist.get_external_count()))
            raise refuse(name, f"is stored in other files ({files})")
        if plist.get_layout() == h5d.VIRTUAL:
            raise refuse(name, "is a virtual dataset mapped from other files")
        if _holds_references(dataset.dtype):
            raise refuse(name, "holds object references")
        stored = dataset.get_storage_size()
        stored_total += stored
        declared = 0 if dataset.shape is None else declared_bytes(dataset.shape, dataset.dtype)  # None: an empty dataspace
        budget.claim(declared, stored, name.decode("utf8", "replace"), compressed=plist.get_nfilters() > 0)
    if stored_total > file_size:
        raise WeightsError(
            f"Refused to read {source}: its datasets claim {stored_total} bytes of storage in a {file_size}-byte file "
            "(datasets sharing storage); the file is forged, re-download or re-export it."
        )


def _check_attributes(object_id, name: bytes, count: int, refuse) -> None:
    from h5py import h5a

    for index in range(count):
        attribute = h5a.open(object_id, index=index)
        if _holds_references(attribute.dtype):
            raise refuse(name + b"/@" + attribute.name, "is an attribute holding object references")


def _holds_references(dtype) -> bool:
    """Whether ``dtype`` (or a field, sub-array or variable-length base of it) is an HDF5 reference."""
    import h5py

    if not dtype.hasobject:  # h5py gives references (and variable-length data) object dtypes
        return False
    if h5py.check_dtype(ref=dtype) is not None:
        return True
    base = h5py.check_dtype(vlen=dtype)
    if isinstance(base, np.dtype):
        return _holds_references(base)
    if dtype.subdtype is not None:
        return _holds_references(dtype.subdtype[0])
    return any(_holds_references(field[0]) for field in (dtype.fields or {}).values())


def check_keras_file(path: str | os.PathLike) -> None:
    """Check a ``.keras`` file's members before Keras reads it.

    Each member may expand at most ``MAX_EXPANSION`` times, and the weights
    (``model.weights.h5`` or ``.npz``) pass :func:`check_hdf5` or
    :func:`~hub_core.store.readers.numpy.check_numpy_file`. Other zip errors
    are left to Keras to report.

    Raises:
        WeightsError: Naming the file and the member, link or dataset.
    """
    import h5py

    path = pathlib.Path(path)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            budget = Budget(path)
            for info in archive.infolist():
                budget.claim(info.file_size, info.compress_size, info.filename,
                             compressed=info.compress_type != zipfile.ZIP_STORED)
            names = archive.namelist()
            if "model.weights.h5" in names:
                info = archive.getinfo("model.weights.h5")
                with _open_member(path, archive, info) as member, h5py.File(member, "r") as handle:
                    check_hdf5(handle, f"{path}:{info.filename}", info.file_size)
            elif "model.weights.npz" in names:
                with _open_member(path, archive, archive.getinfo("model.weights.npz")) as member:
                    check_numpy_file(member, f"{path}:model.weights.npz")
    except HubError:
        raise
    except MemoryError:
        raise out_of_memory(path) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsError(f"Could not read the weights inside {path} ({error}); re-save or re-download the file.") from None


def _open_member(path: pathlib.Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """A seekable file of one zip member: a window on the file when stored (zipfile re-reads on each seek back)."""
    if info.compress_type != zipfile.ZIP_STORED:
        return archive.open(info)
    handle = open(path, "rb")
    handle.seek(info.header_offset)
    header = handle.read(30)  # the local file header; its name and extra field lengths end it
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        handle.close()
        raise zipfile.BadZipFile(f"member '{info.filename}' has no local header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return _Window(handle, info.header_offset + 30 + name_length + extra_length, info.file_size)


class _Window(io.RawIOBase):
    """Bytes ``start`` to ``start + size`` of ``handle`` as a read-only, seekable file (closing closes ``handle``)."""

    def __init__(self, handle: BinaryIO, start: int, size: int):
        super().__init__()
        self._handle, self._start, self._size, self._position = handle, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self._size - self._position))
        self._handle.seek(self._start + self._position)
        read = self._handle.readinto(memoryview(buffer)[:count]) or 0
        self._position += read
        return read

    def close(self) -> None:
        self._handle.close()
        super().close()


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
