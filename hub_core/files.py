"""Atomic file writes and file hashing, shared by the weights store, run directories and plugins.

Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tempfile
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
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{''.join(path.suffixes)}", dir=path.parent)
    except OSError as error:
        raise _naming(error, path) from None
    os.close(fd)
    tmp_path = pathlib.Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except OSError as error:
        if error.filename != tmp:
            raise
        raise _naming(error, path) from None
    finally:
        tmp_path.unlink(missing_ok=True)


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
