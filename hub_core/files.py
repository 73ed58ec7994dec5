"""Atomic file writes and file hashing, shared by the weights store, run directories and plugins.

Every file written here gets the mode a plain ``open()`` would give it under
the user's umask (``0644`` with the usual ``022``), never ``mkstemp``'s
private ``0600``: run directories and shared caches stay readable by the
people they are shared with. Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import secrets
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``path``; fsync it and move it into place on success.

    The temporary name ends with all of ``path``'s suffixes (Keras checks
    ``.keras`` and ``.weights.h5``). On error the temporary file is removed and
    ``path`` is left untouched; an ``OSError`` about the temporary file names ``path``.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp_path = _create_temporary(path)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except OSError as error:
        if error.filename != os.fspath(tmp_path):
            raise
        raise _naming(error, path) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _create_temporary(path: pathlib.Path) -> pathlib.Path:
    """Create a new, empty, uniquely named file beside ``path``, with ``open()``'s mode under the umask."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{''.join(path.suffixes)}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _naming(error: OSError, path: pathlib.Path) -> OSError:
    """``error`` about the file being written rather than its temporary name."""
    return type(error)(error.errno, error.strerror, os.fspath(path))


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file and ``os.replace``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a new temporary folder beside ``path``; on success it replaces ``path`` (an older one is removed).

    A folder of many files is then whole or absent, without a fsync per file. On error the
    temporary folder is removed and ``path`` is left untouched.
    """
    import shutil
    import tempfile

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp_path
        tmp_path.chmod(0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
            os.replace(path, old)
            shutil.rmtree(old)
        os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
