"""Pickled numpy data (``np.save`` of a dict, or a raw pickle) read without executing code.

The unpickler only rebuilds containers, numbers, strings and numpy arrays;
any other global is refused.
"""

from __future__ import annotations

import collections
import os
import pathlib
import pickle
from typing import Any, BinaryIO

from hub_core.errors import WeightsError

_NPY_MAGIC = b"\x93NUMPY"


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes under protocol 2, latin-1 only."""
    if encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The only globals a pickled weights file may name, mapped to safe objects."""
    import numpy as np

    core = np._core if hasattr(np, "_core") else np.core
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = core.multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = core.numeric._frombuffer
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` only returns allow-listed objects."""

    def __init__(self, file: BinaryIO, source: pathlib.Path):
        # latin-1 lets numpy rebuild arrays pickled by Python 2 (bvlc_alexnet.npy).
        super().__init__(file, encoding="latin1")
        self._source = source
        self._allowed = _allowed_globals()

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
            if handle.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                handle.seek(0)
                dtype = _read_npy_header(handle, path)
                if not dtype.hasobject:
                    return np.load(path, allow_pickle=False)
            else:
                handle.seek(0)
            result = _RestrictedUnpickler(handle, path).load()
    except WeightsError:
        raise
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, TypeError, IndexError) as error:
        raise WeightsError(f"Could not read {path} as pickled arrays ({type(error).__name__}: {error}); "
                           "check that the file is complete and in the expected format.") from error
    if isinstance(result, np.ndarray) and result.dtype.hasobject and result.shape == ():
        return result.item()
    return result


def _read_npy_header(handle: BinaryIO, path: pathlib.Path):
    """Consume a ``.npy`` header and return its dtype (the data follows)."""
    from numpy.lib import format as npy_format

    version = npy_format.read_magic(handle)
    if version == (1, 0):
        _, _, dtype = npy_format.read_array_header_1_0(handle)
    elif version == (2, 0):
        _, _, dtype = npy_format.read_array_header_2_0(handle)
    else:
        raise WeightsError(f"{path} is a .npy file of version {version}, which is not supported; re-save it with numpy.")
    return dtype
