"""Tar and zip archives extracted as regular files inside the target directory only."""

from __future__ import annotations

import os
import pathlib
import shutil
import stat
import tarfile
import zipfile
from typing import Any, BinaryIO, Callable

from hub_core.errors import WeightsError
from hub_core.files import atomic_path


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
