"""Readers of foreign formats that never execute code from the file.

* :func:`load_pickled_arrays` reads pickled numpy data (``np.save`` of a dict,
  or a raw pickle) with an unpickler that only rebuilds containers, numbers,
  strings and numpy arrays; any other global is refused.
* :func:`load_npz` reads ``.npz``/``.npy`` files with ``allow_pickle=False``.
* :func:`extract_archive` extracts tar and zip archives as regular files
  inside the target directory only.

numpy is imported inside the functions so importing this module stays light.
"""

from __future__ import annotations

import collections
import os
import pathlib
import pickle
import shutil
import stat
import tarfile
import zipfile
from typing import Any, BinaryIO, Callable

from hub_core.errors import WeightsError
from hub_core.files import atomic_path

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


def load_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.npz`` (or plain ``.npy``) file without allowing pickles.

    Args:
        path: The file to read.

    Returns:
        A dict of array name to numpy array (``{"arr_0": a}`` for a ``.npy``).

    Raises:
        WeightsError: When the file is unreadable or holds pickled objects.
    """
    import numpy as np

    path = pathlib.Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"arr_0": loaded}
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise WeightsError(f"Could not read {path} as numpy arrays ({error}); "
                           "it must be a .npz/.npy file without pickled objects.") from error


def _member_target(target: pathlib.Path, name: str, archive: pathlib.Path) -> pathlib.Path:
    """The path a member extracts to, refusing anything outside ``target``."""
    normalized = name.replace("\\", "/")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":") or ".." in parts or not parts:
        raise WeightsError(
            f"Refused to extract {archive}: member '{name}' would be written outside the target directory; "
            "archives may only hold relative paths without '..'."
        )
    destination = target.joinpath(*parts)
    if not destination.resolve().is_relative_to(target.resolve()):
        raise WeightsError(f"Refused to extract {archive}: member '{name}' resolves outside {target}.")
    return destination


def _write_member(source: BinaryIO, destination: pathlib.Path) -> None:
    """Copy one member to ``destination`` through a temp file and an atomic rename."""
    with atomic_path(destination) as temp, open(temp, "wb") as out:
        shutil.copyfileobj(source, out)


def _refuse(archive: pathlib.Path, name: str, what: str) -> WeightsError:
    return WeightsError(
        f"Refused to extract {archive}: member '{name}' is {what}; only regular files and directories are extracted."
    )


def _tar_members(archive: pathlib.Path, handle: tarfile.TarFile, target: pathlib.Path):
    for member in handle.getmembers():
        destination = _member_target(target, member.name, archive)
        if member.isdir():
            yield destination, None
        elif member.isreg():
            yield destination, (lambda m=member: handle.extractfile(m))
        else:
            kind = "a link" if member.issym() or member.islnk() else "a device or special file"
            raise _refuse(archive, member.name, kind)


def _zip_members(archive: pathlib.Path, handle: zipfile.ZipFile, target: pathlib.Path):
    for info in handle.infolist():
        destination = _member_target(target, info.filename, archive)
        mode = info.external_attr >> 16  # Unix mode, when written on Unix; 0 otherwise
        if info.is_dir():
            yield destination, None
        elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            kind = "a link" if stat.S_ISLNK(mode) else "a device or special file"
            raise _refuse(archive, info.filename, kind)
        else:
            yield destination, (lambda i=info: handle.open(i))


def extract_archive(archive: str | os.PathLike, target_dir: str | os.PathLike) -> list[pathlib.Path]:
    """Extract a tar or zip archive as regular files inside ``target_dir``.

    Every member is checked before anything is written: absolute paths, ``..``
    components, links, devices and other special files are refused. Files are
    written through temp files and renamed into place.

    Args:
        archive: A ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz`` or ``.zip`` file.
        target_dir: Directory to extract into (created if missing).

    Returns:
        The extracted file paths, in archive order.

    Raises:
        WeightsError: When the archive is unreadable or holds a refused member.
    """
    archive = pathlib.Path(archive)
    target = pathlib.Path(target_dir)
    opener: Callable[[], Any]
    walker: Callable[..., Any]
    try:
        if zipfile.is_zipfile(archive):
            opener, walker = (lambda: zipfile.ZipFile(archive)), _zip_members
        elif tarfile.is_tarfile(archive):
            opener, walker = (lambda: tarfile.open(archive)), _tar_members
        else:
            raise WeightsError(f"{archive} is neither a tar nor a zip archive; pass a .tar(.gz/.bz2/.xz) or .zip file.")
        with opener() as handle:
            members = list(walker(archive, handle, target))  # validates every member first
            written = []
            for destination, open_member in members:
                if open_member is None:
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                with open_member() as source:
                    _write_member(source, destination)
                written.append(destination)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise WeightsError(f"Could not extract {archive} ({type(error).__name__}: {error}); "
                           "check that the archive is complete.") from error
    return written


