"""Legacy (pre-1.6, not zip) PyTorch ``state_dict`` files read without torch and without executing code.

The legacy format is a run of pickles followed by raw bytes:

1. the magic number, 2. the protocol version (1001), 3. system info
   (endianness, type sizes), all plain data;
4. the state dict: an ``OrderedDict`` of tensors, each
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``,
   whose storages are persistent ids ``("storage", torch.FloatStorage, key,
   location, numel, None)``;
5. the list of storage keys, in the order their bytes follow;
6. for each key, an 8-byte little-endian element count and the raw elements.

Every pickle goes through the hub's restricted unpickler
(:mod:`hub_core.store.readers.pickle`); the state dict may name only
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the
``torch.*Storage`` types, which resolve to stand-ins here. Declared sizes are
checked against the file's length before anything is allocated, and each
tensor is rebuilt from its size, stride and offset (conv kernels are
non-contiguous views), never by a plain reshape.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
import pickle
import struct
from typing import Any, BinaryIO

from hub_core.errors import WeightsError
from hub_core.store.readers.pickle import _RestrictedUnpickler

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# Element types of the storages, by torch name. Fixed sizes: the system info of
# files written on Windows says ``long: 4``, yet LongStorage elements are 8 bytes.
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.*Storage`` class named by the file."""

    name: str


@dataclasses.dataclass
class _Storage:
    """A storage declared by a persistent id; ``data`` is filled from the raw bytes after the pickles."""

    key: str
    dtype: Any
    numel: int
    data: Any = None


@dataclasses.dataclass(frozen=True)
class _TensorView:
    """A tensor as the state dict declares it: a strided view of a storage."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _StateDictUnpickler(_RestrictedUnpickler):
    """The restricted unpickler, allowing a state dict's globals and resolving its storage ids."""

    def __init__(self, file: BinaryIO, source: pathlib.Path, remaining: int):
        super().__init__(file, source)
        self._allowed = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
        }
        self._remaining = remaining  # bytes after the pickles, at most
        self._declared = 0  # bytes of the storages declared so far
        self.storages: dict[str, _Storage] = {}

    def _refuse(self, what: str) -> WeightsError:
        return WeightsError(f"Refused to read {self._source}: {what}; it is not a plain PyTorch state_dict file.")

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise self._refuse(f"it asks to load the Python global '{module}.{name}', which a state dict never "
                               "names") from None

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise self._refuse(f"it has the persistent id {str(pid)[:80]!r}, not a storage")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise self._refuse("a storage id names no storage type or key")
        if view is not None:
            raise self._refuse(f"storage {key} is a view of another storage, which state dicts never hold")
        import numpy as np

        dtype = np.dtype(STORAGE_DTYPES[storage_type.name])
        if key not in self.storages:
            if not isinstance(numel, int) or numel < 0 or self._declared + numel * dtype.itemsize > self._remaining:
                raise self._refuse(f"storage {key} declares {numel!r} elements, more than the file's "
                                   f"{self._remaining} remaining bytes hold")
            self._declared += numel * dtype.itemsize
            self.storages[key] = _Storage(key, dtype, numel)
        storage = self.storages[key]
        if (storage.dtype, storage.numel) != (dtype, numel):
            raise self._refuse(f"storage {key} is declared twice with different types or sizes")
        return storage

    def _rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None, *rest) -> _TensorView:
        if not isinstance(storage, _Storage):
            raise self._refuse("a tensor is rebuilt from something that is not a storage")
        integers = lambda values: isinstance(values, tuple) and all(isinstance(v, int) and v >= 0 for v in values)
        if not (isinstance(offset, int) and offset >= 0 and integers(size) and integers(stride)
                and len(size) == len(stride)):
            raise self._refuse("a tensor has a negative or malformed offset, size or stride")
        if all(size):  # an empty tensor reads nothing
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.numel:
                raise self._refuse(f"a tensor of size {size} at offset {offset} reaches element {last} of storage "
                                   f"{storage.key}, which has {storage.numel}")
        return _TensorView(storage, offset, size, stride)


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read a legacy PyTorch ``state_dict`` file into numpy arrays, without torch.

    Args:
        path: The ``.pth``/``.pt`` file (written by ``torch.save`` before 1.6, or
            with ``_use_new_zipfile_serialization=False``).

    Returns:
        ``{name: numpy array}`` in the file's order, each array a contiguous
        copy with the tensor's shape and dtype.

    Raises:
        WeightsError: When the file is not a legacy state dict, names any other
            Python global, declares storages larger than the file, or has a
            tensor reaching past its storage; the message names the file.
    """
    import numpy as np

    path = pathlib.Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                raise WeightsError(f"{path} is a zip-format PyTorch file (torch >= 1.6); only the legacy "
                                   "format is read here: re-save it with _use_new_zipfile_serialization=False.")
            handle.seek(0)
            for expected in (LEGACY_MAGIC, LEGACY_PROTOCOL):
                found = _RestrictedUnpickler(handle, path).load()
                if found != expected:
                    raise WeightsError(f"{path} is not a legacy PyTorch file (it starts with {str(found)[:40]!r}, "
                                       f"not {expected}); pass a file written by torch.save.")
            system = _RestrictedUnpickler(handle, path).load()
            if not isinstance(system, dict):
                raise WeightsError(f"{path} is not a legacy PyTorch file (no system info after the protocol "
                                   "number); pass a file written by torch.save.")
            if not system.get("little_endian", False):
                raise WeightsError(f"{path} was written on a big-endian machine, which is not supported; "
                                   "re-save it on a little-endian one.")
            unpickler = _StateDictUnpickler(handle, path, remaining=size - handle.tell())
            state = unpickler.load()
            keys = _RestrictedUnpickler(handle, path).load()
            _read_storages(handle, path, size, unpickler.storages, keys)
            if handle.read(1):
                raise WeightsError(f"{path} has bytes after its last storage; the file is not a plain state dict.")
    except WeightsError:
        raise
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, TypeError, IndexError,
            struct.error) as error:
        raise WeightsError(f"Could not read {path} as a legacy PyTorch state dict ({type(error).__name__}: {error}); "
                           "check that the file is complete.") from error
    if not isinstance(state, dict) or not all(isinstance(v, _TensorView) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors; pass a model's state_dict() file.")
    return {
        str(name): np.lib.stride_tricks.as_strided(
            view.storage.data[view.offset:], shape=view.size,
            strides=tuple(s * view.storage.dtype.itemsize for s in view.stride), writeable=False,
        ).copy()
        for name, view in state.items()
    }


def _read_storages(handle: BinaryIO, path: pathlib.Path, size: int, storages: dict, keys: Any) -> None:
    """Fill each storage from the raw bytes that follow the pickles, in ``keys`` order."""
    import numpy as np

    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or sorted(keys) != sorted(storages):
        raise WeightsError(f"Refused to read {path}: its storage key list does not match the storages its tensors "
                           "use; the file is damaged or not a plain state dict.")
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", handle.read(8))
        nbytes = count * storage.dtype.itemsize
        if count != storage.numel or nbytes > size - handle.tell():
            raise WeightsError(f"Refused to read {path}: storage {key} has {count} elements in the file, declared "
                               f"{storage.numel}, with {size - handle.tell()} bytes left; the file is damaged.")
        storage.data = np.frombuffer(handle.read(nbytes), dtype=storage.dtype)
