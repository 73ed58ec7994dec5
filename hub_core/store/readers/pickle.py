"""Pickled numpy data (``np.save`` of a dict, or a raw pickle) read without executing code.

The unpickler only rebuilds containers, numbers, strings and numpy arrays;
any other global is refused. Arrays are built only from bytes present in the
file: an array allocated from nothing (``numpy.ndarray(shape)``, numpy's
``_reconstruct``) may take at most the pickle's own length, all of them
together, and an array's pickled state must hold exactly its shape's data.
"""

from __future__ import annotations

import collections
import math
import operator
import os
import pathlib
import pickle
import struct
from typing import Any, BinaryIO

from hub_core.errors import HubError, WeightsError
from hub_core.store.readers.budget import out_of_memory
from hub_core.store.readers.numpy import NPY_MAGIC, load_npz, read_npy_header


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes under protocol 2, latin-1 only."""
    if encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled weights file may name, mapped to safe objects.

    ``numpy.ndarray`` and ``_reconstruct``, which allocate, are added by
    :class:`_RestrictedUnpickler` as checked methods.
    """
    import numpy as np

    core = np._core if hasattr(np, "_core") else np.core
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "scalar")] = core.multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = core.numeric._frombuffer
    return allowed


class _RestrictedUnpickler(pickle._Unpickler):
    """An unpickler whose ``find_class`` only returns allow-listed objects and whose arrays hold the file's bytes.

    It is the pure-Python unpickler of the standard library: its ``BUILD``
    step can be checked before numpy's ``__setstate__`` runs (numpy trusts
    the shape of a pickled object array and crashes on a short one).

    Args:
        file: The pickle, positioned at its start.
        source: The file's name for messages.
        size: The pickle's length in bytes, which bounds the arrays built
            from nothing; by default what is left of ``file``.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, source: pathlib.Path, size: int | None = None):
        if size is None:
            start = file.tell()
            size = file.seek(0, os.SEEK_END) - start
            file.seek(start)
        # latin-1 lets numpy rebuild arrays pickled by Python 2 (bvlc_alexnet.npy).
        super().__init__(_Clamped(file, size), encoding="latin1")
        self._source = source
        self._room = size
        self._allowed = _allowed_globals()
        self._ndarray = self._new_array  # one bound method, so that _reconstruct can recognise it
        self._allowed[("numpy", "ndarray")] = self._ndarray
        for package in ("numpy.core", "numpy._core"):
            self._allowed[(f"{package}.multiarray", "_reconstruct")] = self._reconstruct

    def _refuse(self, what: str) -> WeightsError:
        return WeightsError(f"Refused to read {self._source}: {what}; only arrays whose data is in the file are allowed.")

    def _allocate(self, shape: Any, dtype: Any) -> None:
        """Count an array built from nothing against the bytes left in the pickle."""
        import numpy as np

        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        nbytes = math.prod(operator.index(n) for n in shape) * np.dtype(dtype).itemsize
        if nbytes > self._room:
            raise self._refuse(f"it asks for a {nbytes}-byte array with no data behind it, more than the file holds")
        self._room -= nbytes

    def _new_array(self, shape: Any, dtype: Any = float, buffer: Any = None, *args: Any) -> Any:
        """``numpy.ndarray(...)``: a view of ``buffer``, or a new array counted by :meth:`_allocate`."""
        import numpy as np

        if buffer is None:
            self._allocate(shape, dtype)
        return np.ndarray(shape, dtype, buffer, *args)

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> Any:
        """numpy's ``_reconstruct`` of a plain ndarray, counted by :meth:`_allocate`."""
        import numpy as np

        if subtype is not self._ndarray:
            raise self._refuse(f"it rebuilds an array of type {subtype!r}")
        self._allocate(shape, dtype)
        core = np._core if hasattr(np, "_core") else np.core
        return core.multiarray._reconstruct(np.ndarray, shape, dtype)

    def _check_array_state(self, state: Any) -> None:
        """Refuse an ndarray ``__setstate__`` argument whose data does not match its shape."""
        import numpy as np

        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise self._refuse("an array's pickled state is not (shape, dtype, order, data)")
        shape, dtype, _, data = state[-4:]
        if not isinstance(shape, tuple) or not isinstance(dtype, np.dtype):
            raise self._refuse("an array's pickled state is not (shape, dtype, order, data)")
        count = math.prod(operator.index(n) for n in shape)
        if dtype.hasobject:
            fits = isinstance(data, list) and len(data) == count
        else:
            fits = isinstance(data, (bytes, bytearray, str)) and len(data) == count * dtype.itemsize
        if count < 0 or not fits:
            raise self._refuse(f"an array of shape {shape} comes with data of another size")

    def load_build(self) -> None:
        """``BUILD``, with an ndarray's state checked first."""
        import numpy as np

        if isinstance(self.stack[-2], np.ndarray):
            self._check_array_state(self.stack[-1])
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self) -> None:
        """``BYTEARRAY8`` from the bytes present (the standard one allocates the declared length first)."""
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size)
        if len(data) != size:
            raise pickle.UnpicklingError("pickle data was truncated")
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise WeightsError(
                f"Refused to read {self._source}: it asks to load the Python global '{module}.{name}', "
                "which is not plain array data; only dicts, lists, numbers, strings and numpy arrays are allowed."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError(f"Refused to read {self._source}: it uses pickle persistent ids, which plain array data never does.")


class _Clamped:
    """A file whose reads never ask for more than is left of the pickle, so a forged length allocates nothing."""

    def __init__(self, file: BinaryIO, size: int):
        self._file = file
        self._end = file.tell() + size

    def read(self, count: int = -1) -> bytes:
        left = max(0, self._end - self._file.tell())
        return self._file.read(left if count < 0 else min(count, left))

    def readline(self) -> bytes:
        return self._file.readline(max(0, self._end - self._file.tell()))


def load_pickled_arrays(path: str | os.PathLike) -> Any:
    """Read pickled arrays without executing code from the file.

    Accepts a ``.npy`` file holding a pickled object (what ``np.save(path, obj)``
    writes for a dict) or a raw pickle file. A 0-d object array is unwrapped,
    so ``np.save(path, {"conv1": [W, b]})`` reads back as that dict.

    Args:
        path: The file to read.

    Returns:
        The rebuilt object: dicts, lists, tuples, strings, numbers and numpy arrays.

    Raises:
        WeightsError: When the file names any other Python global (a
            ``__reduce__`` payload calling ``os.system``, ``builtins.eval``...),
            or is not a readable pickle or ``.npy`` file.
    """
    import numpy as np

    path = pathlib.Path(path)
    try:
        with open(path, "rb") as handle:
            if handle.read(len(NPY_MAGIC)) == NPY_MAGIC:
                handle.seek(0)
                _, _, dtype = read_npy_header(handle, path)
                if not dtype.hasobject:
                    return load_npz(path)["arr_0"]
            else:
                handle.seek(0)
            result = _RestrictedUnpickler(handle, path).load()
    except HubError:
        raise
    except MemoryError:
        raise out_of_memory(path) from None
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, TypeError, IndexError, KeyError) as error:
        raise WeightsError(f"Could not read {path} as pickled arrays ({type(error).__name__}: {error}); "
                           "check that the file is complete and in the expected format.") from error
    if isinstance(result, np.ndarray) and result.dtype.hasobject and result.shape == ():
        return result.item()
    return result

