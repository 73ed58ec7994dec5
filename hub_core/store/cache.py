"""The weights cache: its slots, the sidecar records shared with the downloader, and ls / verify / clear.

Each downloaded URL has its own slot, a folder named after a hash of the URL
and the file name, so two URLs never share a cached file::

    $HUB_CORE_HOME/weights/<slot>/NAME            the verified file
    $HUB_CORE_HOME/weights/<slot>/.record.json    its hashes, size, mtime, URL and source
    $HUB_CORE_HOME/weights/<slot>/.part[.json]    an interrupted download and what it was (for resuming)
    $HUB_CORE_HOME/weights/.locks/<slot>.lock     the inter-process lock of the slot

``.npz`` conversions of pickled weights live in ``$HUB_CORE_HOME/converted/``,
and the exports that inference engines run (:mod:`hub_core.exporting.engines`)
in ``$HUB_CORE_HOME/engines/<key>/``, each with an ``export.json`` record
(model, format and the sha256 of every file); ls / verify / clear take them too,
named by their key.
Files that earlier versions cached directly as ``weights/NAME`` are moved
into their slot when they verify (:mod:`hub_core.store.download`). The cache
knows file names; ``hub_core.api.cached_files`` turns a model name into the
names of its files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
from typing import Any, Callable, Collection, Iterator

from hub_core import config
from hub_core.files import atomic_write

CHUNK = 1 << 20
_RECORD = ".record.json"
_PART = ".part"
_LOCKS = ".locks"
_LEGACY_RECORDS = ".records"
_LOCK_POLL_SECONDS = 0.2
EXPORT_RECORD = "export.json"


# -- folders -------------------------------------------------------------------
def weights_dir() -> pathlib.Path:
    """The folder that holds the cache slots of the downloaded weight files."""
    return config.home() / "weights"


def converted_dir() -> pathlib.Path:
    """The folder of ``.npz`` files converted from pickled weights (:mod:`hub_core.store.converters`)."""
    return config.home() / "converted"


def engines_dir() -> pathlib.Path:
    """The folder of the engines' exports: one folder per cache key, each holding one export and its record."""
    return config.home() / "engines"


def engine_lock_path(key: str) -> pathlib.Path:
    """The inter-process lock under which the engine export ``key`` is written or deleted."""
    return engines_dir() / f"{key}.lock"


def slot_path(url: str, name: str) -> pathlib.Path:
    """Where the file ``name`` downloaded from ``url`` is cached: its own slot, shared with no other URL."""
    key = hashlib.sha256(f"{url}\n{name}".encode()).hexdigest()[:20]
    return weights_dir() / key / name


def part_path(path: pathlib.Path) -> pathlib.Path:
    """The partial download of the cached file ``path`` (its record is this path plus ``.json``)."""
    return path.parent / _PART


def legacy_path(name: str) -> pathlib.Path:
    """Where earlier versions cached ``name`` (directly in the weights folder, keyed by name only)."""
    return weights_dir() / name


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


def record_path(path: pathlib.Path) -> pathlib.Path:
    """The sidecar record of the cached file ``path`` (of a legacy ``weights/NAME`` file too)."""
    if path.parent == weights_dir():
        return path.parent / _LEGACY_RECORDS / f"{path.name}.json"
    return path.parent / _RECORD


def read_json(path: pathlib.Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_record(path: pathlib.Path) -> dict[str, Any] | None:
    """The sidecar record of the cached file ``path``, or None when it is missing or unreadable."""
    return read_json(record_path(path))


def write_record(path: pathlib.Path, hashes: Hashes, url: str | None, stat: os.stat_result | None = None, *,
                 source: str | None = None, verified: bool = False) -> None:
    """Write the sidecar record of ``path``.

    Args:
        path: The cached file.
        hashes: Its hashes.
        url: The URL the slot caches.
        stat: Taken before hashing, so that a file replaced meanwhile no longer matches its record.
        source: Where the bytes came from (a mirror, or ``url``).
        verified: Whether the file matched a published hash.
    """
    stat = stat or path.stat()
    record = {"url": url, "source": source or url, "sha256": hashes.sha256, "md5": hashes.md5, "verified": verified,
              "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    atomic_write(record_path(path), json.dumps(record, indent=1, sort_keys=True).encode())


def record_current(record: dict[str, Any] | None, path: pathlib.Path) -> bool:
    """Whether ``record`` still describes ``path`` (same size and mtime)."""
    if not record:
        return False
    stat = path.stat()
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def lock_path(path: pathlib.Path) -> pathlib.Path:
    """The lock file of the slot that holds ``path``."""
    return weights_dir() / _LOCKS / f"{path.parent.name}.lock"


@contextlib.contextmanager
def lock(path: pathlib.Path, give_up: Callable[[], None] | None = None) -> Iterator[None]:
    """An inter-process lock on the slot of the cached file ``path``.

    Args:
        path: The cached file.
        give_up: Called every fraction of a second while another process
            holds the lock; it raises to stop waiting. None waits forever.
    """
    import filelock

    file = lock_path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    held = filelock.FileLock(str(file))
    while True:
        try:
            held.acquire(timeout=-1 if give_up is None else _LOCK_POLL_SECONDS)
            break
        except filelock.Timeout:
            give_up()
    try:
        yield
    finally:
        held.release()


# -- listing ---------------------------------------------------------------------
def _slots() -> list[pathlib.Path]:
    folder = weights_dir()
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def _slot_file(slot: pathlib.Path) -> pathlib.Path | None:
    """The cached file of ``slot`` (its one visible file), or None while it holds only a partial download."""
    return next((p for p in sorted(slot.iterdir()) if p.is_file() and not p.name.startswith(".")), None)


def cached_downloads() -> list[pathlib.Path]:
    """The downloaded files in the cache, sorted by name then slot (two URLs may give the same name)."""
    files = [file for file in map(_slot_file, _slots()) if file is not None]
    return sorted(files, key=lambda path: (path.name, path.parent.name))


def cached_names() -> list[str]:
    """The names of the downloaded files in the cache, sorted (each once)."""
    return sorted({path.name for path in cached_downloads()})


def converted_files() -> list[pathlib.Path]:
    """The ``.npz`` conversions in the cache, sorted."""
    folder = converted_dir()
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def engine_exports() -> list[pathlib.Path]:
    """The folders of the engines' exports (see :func:`engines_dir`), sorted by key."""
    folder = engines_dir()
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def exports_of(model: str) -> list[pathlib.Path]:
    """The engine exports whose record names the model ``model`` (a variant name), sorted by key."""
    return [folder for folder in engine_exports() if (read_json(folder / EXPORT_RECORD) or {}).get("model") == model]


def write_export_record(folder: pathlib.Path, model: str, format: str) -> None:
    """Record in ``folder`` (an engine export being written) its model, format and the sha256 of each file."""
    files = {path.name: hash_file(path).sha256 for path in sorted(folder.iterdir()) if path.is_file()}
    atomic_write(folder / EXPORT_RECORD, json.dumps({"model": model, "format": format, "files": files}, indent=1).encode())


def _selection(names: Collection[str] | None) -> tuple[list[pathlib.Path], list[pathlib.Path], list[pathlib.Path]]:
    """The cached downloads named in ``names`` (all when None), the converted files and the engine exports they select.

    A converted file is selected by its own name or by the download it was
    converted from (conversions are named ``"<source stem>-<converter>-<key>.npz"``); an engine export by its key.
    """
    downloads, converted, exports = cached_downloads(), converted_files(), engine_exports()
    if names is None:
        return downloads, converted, exports
    wanted = set(names)
    downloads = [path for path in downloads if path.name in wanted]
    stems = tuple(f"{path.stem}-" for path in downloads)
    return (downloads, [path for path in converted if path.name in wanted or path.name.startswith(stems)],
            [path for path in exports if path.name in wanted])


def _export_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The files of an engine export, its record excepted."""
    return sorted(path for path in folder.iterdir() if path.is_file() and path.name != EXPORT_RECORD)


def cache_entries(names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Describe the cached files (all, or those named, with their conversions).

    Downloads come first, then the ``.npz`` files converted from pickled
    weights (``kind`` ``"converted"``; made again from their source on demand),
    then the engines' exports (``kind`` ``"engine"``, named by their key; exported again on demand).

    Args:
        names: File names (downloads or conversions) or export keys to describe; None means every file.
            Names that are not cached are skipped.

    Returns:
        One dict per file: ``name``, ``kind`` (``"download"``, ``"converted"`` or ``"engine"``), ``path``,
        ``size``, ``sha256``, ``url`` and ``recorded`` (whether the sidecar record still matches size and
        mtime); an engine export's ``path`` is its folder, its ``size`` that of its files, and it also has
        ``model`` and ``format`` from its record.
    """
    downloads, converted, exports = _selection(names)
    entries = []
    for path in downloads:
        record = read_record(path) or {}
        entries.append({
            "name": path.name,
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
    for folder in exports:
        record = read_json(folder / EXPORT_RECORD) or {}
        entries.append({"name": folder.name, "kind": "engine", "path": str(folder),
                        "size": sum(path.stat().st_size for path in _export_files(folder)), "sha256": None, "url": None,
                        "recorded": bool(record), "model": record.get("model"), "format": record.get("format")})
    return entries


def verify_cache(names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Hash cached files again and compare with the hashes recorded at download.

    Converted files have no recorded hash; their zip checksums are tested. An engine export is hashed file by
    file against its record.

    Args:
        names: File names to verify, as :func:`cache_entries`; None means every file.

    Returns:
        One dict per file: ``name``, ``path``, ``sha256`` (as now hashed; for an engine export, of its
        main file) and ``status``: ``"ok"``, ``"corrupt"`` (differs from the verified download, a converted
        file fails its checksums, or an export's files differ from its record) or ``"unknown"`` (no record).
    """
    downloads, converted, exports = _selection(names)
    results = []
    for path in downloads:
        with lock(path):
            record = read_record(path)
            hashes = hash_file(path)
            if record is None:
                status = "unknown"
            elif record.get("sha256") == hashes.sha256:
                status = "ok"
                if not record_current(record, path):
                    write_record(path, hashes, record.get("url"), source=record.get("source"),
                                 verified=bool(record.get("verified")))
            else:
                status = "corrupt"
        results.append({"name": path.name, "path": str(path), "sha256": hashes.sha256, "status": status})
    for path in converted:
        status = "ok" if _zip_intact(path) else "corrupt"
        results.append({"name": path.name, "path": str(path), "sha256": hash_file(path).sha256, "status": status})
    for folder in exports:
        recorded = (read_json(folder / EXPORT_RECORD) or {}).get("files")
        hashes = {path.name: hash_file(path).sha256 for path in _export_files(folder)}
        status = "unknown" if not isinstance(recorded, dict) else "ok" if hashes == recorded else "corrupt"
        main = next((name for name in hashes if name.endswith((".xml", ".onnx"))), None)
        results.append({"name": folder.name, "path": str(folder), "sha256": hashes.get(main), "status": status})
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
    """Delete cached files (all, or those named): their slots, with records and partial downloads.

    Converted files of the selected downloads are deleted with them; clearing
    everything also removes the slots of killed downloads, the files that
    earlier versions cached directly in the weights folder, every engine export
    and the folders of killed exports.

    Args:
        names: File names or export keys to delete, as :func:`cache_entries`; None means every file.

    Returns:
        One dict per deleted file (or engine export): ``name`` and ``size``.
    """
    import filelock

    downloads, converted, exports = _selection(names)
    removed = []
    for path in converted:
        size = path.stat().st_size
        path.unlink(missing_ok=True)
        removed.append({"name": path.name, "size": size})
    slots = [path.parent for path in downloads] if names is not None else _slots()
    for slot in slots:
        file = _slot_file(slot)
        with lock(file or slot / "_"):
            if file is not None and file.is_file():
                removed.append({"name": file.name, "size": file.stat().st_size})
            shutil.rmtree(slot, ignore_errors=True)
    folder = weights_dir()
    if names is None and folder.is_dir():  # the flat layout of earlier versions
        for leftover in folder.iterdir():
            if leftover.is_file():
                if not leftover.name.startswith("."):
                    removed.append({"name": leftover.name, "size": leftover.stat().st_size})
                leftover.unlink()
        shutil.rmtree(folder / _LEGACY_RECORDS, ignore_errors=True)
    if names is None and engines_dir().is_dir():  # exports killed while being written: .<key>.<random>
        exports += sorted(p for p in engines_dir().iterdir() if p.is_dir() and p.name.startswith("."))
    for export in exports:
        key = export.name.lstrip(".").split(".", 1)[0]
        with filelock.FileLock(str(engine_lock_path(key))):
            if not export.name.startswith("."):
                removed.append({"name": export.name, "size": sum(p.stat().st_size for p in _export_files(export))})
            shutil.rmtree(export, ignore_errors=True)
    return removed
