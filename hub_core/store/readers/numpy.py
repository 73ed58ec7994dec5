"""``.npz``/``.npy`` files read with ``allow_pickle=False``, every declared size checked first."""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import zipfile
from typing import IO, Any, BinaryIO

from hub_core.errors import HubError, WeightsError
from hub_core.store.readers.budget import Budget, out_of_memory

NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # what np.load takes for a .npz


def read_npy_header(handle: BinaryIO, source: str | os.PathLike):
    """Consume a ``.npy`` header and return ``(shape, fortran_order, dtype)`` (the data follows).

    Raises:
        WeightsError: For a version other than 1.0 and 2.0.
        ValueError: When the header is malformed.
    """
    from numpy.lib import format as npy_format

    version = npy_format.read_magic(handle)
    if version == (1, 0):
        return npy_format.read_array_header_1_0(handle)
    if version == (2, 0):
        return npy_format.read_array_header_2_0(handle)
    raise WeightsError(f"{source} is a .npy file of version {version}, which is not supported; re-save it with numpy.")


def declared_bytes(shape, dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` takes (what a reader allocates for it)."""
    return math.prod(shape) * dtype.itemsize


def _check_npy(handle: IO[bytes], what: str, end: int, budget: Budget, *, stored: int, compressed: bool) -> None:
    """Check the ``.npy`` ``what`` at ``handle``: plain data that fits between its header and offset ``end``."""
    shape, _, dtype = read_npy_header(handle, budget.source)
    if dtype.hasobject:
        raise WeightsError(f"Refused to read {budget.source}: '{what}' holds pickled objects; weight files must hold plain arrays.")
    declared = declared_bytes(shape, dtype)
    budget.check(declared, end - handle.tell(), what)
    budget.claim(declared, stored, what, compressed=compressed)


def check_numpy_file(file: str | os.PathLike | IO[bytes], source: str | os.PathLike) -> None:
    """Check a ``.npy`` or ``.npz`` before numpy reads it.

    Every array's header must declare no more bytes than the file holds for
    it (for a compressed ``.npz`` member, at most ``MAX_EXPANSION`` times its
    compressed size, read from the zip headers), hold no pickled objects, and
    the arrays together must stay within ``HUB_CORE_MAX_WEIGHTS_BYTES``.

    Args:
        file: A path or a seekable binary file object at the start of the data.
        source: The file's name for messages.

    Raises:
        WeightsError: When a check fails.
        ValueError, OSError, zipfile.BadZipFile: When the file is malformed.
    """
    budget = Budget(source)
    with open(file, "rb") if isinstance(file, (str, os.PathLike)) else contextlib.nullcontext(file) as handle:
        start = handle.tell()
        magic = handle.read(len(NPY_MAGIC))
        handle.seek(start)
        if magic.startswith(_ZIP_MAGICS):
            with zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    with archive.open(info) as member:
                        _check_npy(member, info.filename, info.file_size, budget, stored=info.compress_size,
                                   compressed=info.compress_type != zipfile.ZIP_STORED)
        else:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(start)
            _check_npy(handle, os.path.basename(str(source)), end, budget, stored=end - start, compressed=False)


def load_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.npz`` (or plain ``.npy``) file without allowing pickles.

    Declared sizes are checked first (:func:`check_numpy_file`).

    Args:
        path: The file to read.

    Returns:
        A dict of array name to numpy array (``{"arr_0": a}`` for a ``.npy``).

    Raises:
        WeightsError: When the file is unreadable, holds pickled objects or
            declares more data than it holds.
    """
    import numpy as np

    path = pathlib.Path(path)
    try:
        check_numpy_file(path, path)
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"arr_0": loaded}
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except HubError:
        raise
    except MemoryError:
        raise out_of_memory(path) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsError(f"Could not read {path} as numpy arrays ({error}); "
                           "it must be a .npz/.npy file without pickled objects.") from error
