"""The weights cache: its folders, the sidecar records shared with the downloader, and ls / verify / clear.

Downloads live in ``$HUB_CORE_HOME/weights/``, one per file name, each with a
sidecar record (``.records/NAME.json``: hashes, size, mtime, source URL);
``.npz`` conversions of pickled weights live in ``$HUB_CORE_HOME/converted/``.
The cache knows file names only; ``hub_core.api.cached_files`` turns a model
name into the names of its files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
from typing import Any, Collection, Iterator

from hub_core import config
from hub_core.files import atomic_write

CHUNK = 1 << 20
_RECORDS = ".records"
_LOCKS = ".locks"


# -- folders -------------------------------------------------------------------
def weights_dir() -> pathlib.Path:
    """The folder that holds the cached weight files."""
    return config.home() / "weights"


def converted_dir() -> pathlib.Path:
    """The folder of ``.npz`` files converted from pickled weights (:mod:`hub_core.store.converters`)."""
    return config.home() / "converted"


# -- hashes, records and locks -----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Hashes:
    """The hashes of one file."""

    sha256: str
    md5: str | None = None  # computed only for md5-only files (it is slower than sha256)


def hash_file(path: pathlib.Path, *, md5: bool = False) -> Hashes:
    """The sha256 (and, when asked, md5) of the file at ``path``."""
    sha256, md5_hash = hashlib.sha256(), (hashlib.md5(usedforsecurity=False) if md5 else None)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha256.update(chunk)
            if md5_hash:
                md5_hash.update(chunk)
    return Hashes(sha256.hexdigest(), md5_hash.hexdigest() if md5_hash else None)


def record_path(name: str) -> pathlib.Path:
    """The sidecar record of the cached file ``name``."""
    return weights_dir() / _RECORDS / f"{name}.json"


def read_record(name: str) -> dict[str, Any] | None:
    """The sidecar record of ``name``, or None when it is missing or unreadable."""
    try:
        record = json.loads(record_path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: pathlib.Path, hashes: Hashes, url: str | None, stat: os.stat_result | None = None) -> None:
    """Write the sidecar record of ``path``.

    ``stat`` should be taken before hashing, so that a file replaced meanwhile
    no longer matches its record.
    """
    stat = stat or path.stat()
    record = {"url": url, "sha256": hashes.sha256, "md5": hashes.md5, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    atomic_write(record_path(path.name), json.dumps(record, indent=1, sort_keys=True).encode())


def record_current(record: dict[str, Any] | None, path: pathlib.Path) -> bool:
    """Whether ``record`` still describes ``path`` (same size and mtime)."""
    if not record:
        return False
    stat = path.stat()
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


@contextlib.contextmanager
def lock(name: str) -> Iterator[None]:
    """An inter-process lock on one cache file name."""
    import filelock

    folder = weights_dir() / _LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(folder / f"{name}.lock")):
        yield


# -- listing ---------------------------------------------------------------------
def cached_names() -> list[str]:
    """The names of the downloaded files in the cache, sorted."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def converted_files() -> list[pathlib.Path]:
    """The ``.npz`` conversions in the cache, sorted."""
    folder = converted_dir()
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def _selection(names: Collection[str] | None) -> tuple[list[str], list[pathlib.Path]]:
    """The cached downloads among ``names`` (all when None) and the converted files they select.

    A converted file is selected by its own name or by the download it was
    converted from (conversions are named ``"<source stem>-<converter>-<key>.npz"``).
    """
    downloads, converted = cached_names(), converted_files()
    if names is None:
        return downloads, converted
    wanted = set(names)
    downloads = [name for name in downloads if name in wanted]
    stems = tuple(f"{pathlib.Path(name).stem}-" for name in downloads)
    return downloads, [path for path in converted if path.name in wanted or path.name.startswith(stems)]


def cache_entries(names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Describe the cached files (all, or those named, with their conversions).

    Downloads come first, then the ``.npz`` files converted from pickled
    weights (``kind`` ``"converted"``; made again from their source on demand).

    Args:
        names: File names (downloads or conversions) to describe; None means every file.
            Names that are not cached are skipped.

    Returns:
        One dict per file: ``name``, ``kind`` (``"download"`` or
        ``"converted"``), ``path``, ``size``, ``sha256``, ``url`` and
        ``recorded`` (whether the sidecar record still matches size and mtime).
    """
    downloads, converted = _selection(names)
    entries = []
    for file_name in downloads:
        path = weights_dir() / file_name
        record = read_record(file_name) or {}
        entries.append({
            "name": file_name,
            "kind": "download",
            "path": str(path),
            "size": path.stat().st_size,
            "sha256": record.get("sha256"),
            "url": record.get("url"),
            "recorded": record_current(record, path),
        })
    for path in converted:
        entries.append({"name": path.name, "kind": "converted", "path": str(path), "size": path.stat().st_size,
                        "sha256": None, "url": None, "recorded": None})
    return entries


def verify_cache(names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Hash cached files again and compare with the hashes recorded at download.

    Converted files have no recorded hash; their zip checksums are tested.

    Args:
        names: File names to verify, as :func:`cache_entries`; None means every file.

    Returns:
        One dict per file: ``name``, ``path``, ``sha256`` (as now hashed) and
        ``status``: ``"ok"``, ``"corrupt"`` (differs from the verified
        download, or a converted file fails its checksums) or ``"unknown"``
        (no record, e.g. a file copied in by hand).
    """
    downloads, converted = _selection(names)
    results = []
    for file_name in downloads:
        path = weights_dir() / file_name
        with lock(file_name):
            record = read_record(file_name)
            hashes = hash_file(path)
            if record is None:
                status = "unknown"
            elif record.get("sha256") == hashes.sha256:
                status = "ok"
                if not record_current(record, path):
                    write_record(path, hashes, record.get("url"))
            else:
                status = "corrupt"
        results.append({"name": file_name, "path": str(path), "sha256": hashes.sha256, "status": status})
    for path in converted:
        status = "ok" if _zip_intact(path) else "corrupt"
        results.append({"name": path.name, "path": str(path), "sha256": hash_file(path).sha256, "status": status})
    return results


def _zip_intact(path: pathlib.Path) -> bool:
    """Whether every member of the zip (``.npz``) file at ``path`` reads back with its CRC."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def clear_cache(names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Delete cached files (all, or those named) and their records.

    Converted files of the selected downloads are deleted with them; clearing
    everything also removes the leftovers of killed downloads.

    Args:
        names: File names to delete, as :func:`cache_entries`; None means every file.

    Returns:
        One dict per deleted file: ``name`` and ``size``.
    """
    downloads, converted = _selection(names)
    removed = []
    for path in converted:
        size = path.stat().st_size
        path.unlink(missing_ok=True)
        removed.append({"name": path.name, "size": size})
    for file_name in downloads:
        path = weights_dir() / file_name
        with lock(file_name):
            if path.is_file():
                size = path.stat().st_size
                path.unlink()
                removed.append({"name": file_name, "size": size})
            record_path(file_name).unlink(missing_ok=True)
    folder = weights_dir()
    if names is None and folder.is_dir():  # leftovers of killed downloads, records of deleted files
        for leftover in [*folder.glob(".*.part"), *(folder / _RECORDS).glob("*.json")]:
            file_name = leftover.name[1:-5] if leftover.suffix == ".part" else leftover.name[:-5]
            with lock(file_name):
                if leftover.suffix == ".part" or not (folder / file_name).exists():
                    leftover.unlink(missing_ok=True)
    return removed
