"""The weights store's downloader: fetch and verify weight files into the cache.

A download is streamed to the partial file of its cache slot
(:mod:`hub_core.store.cache`; one slot per URL), fsynced, verified (sha256,
or md5 where only that is published) and then renamed into place, under a
file lock so that concurrent processes download a file once. No more bytes
are read than the published size (else the ``Content-Length``) announces.
Interrupted transfers are retried with backoff and resumed with HTTP
``Range`` plus ``If-Range``, in the same process or the next one (the partial
file keeps a record of its source, expected hash and the server's validator);
a server that answers ``200`` restarts the file.

Every file has an overall deadline (:class:`hub_core.store.transfer.Deadline`). A local write
error (a full disk) is reported at once, never retried. When no source gives
the file, the error names every source that was tried.

Each cached file has a sidecar record with its hashes, size and mtime; a file
whose size or mtime changed is hashed again before it is used. A verified
file is read without any write to the cache, so a shared read-only cache works.

Settings (:mod:`hub_core.config`): ``HUB_CORE_HOME`` (cache root),
``HUB_CORE_OFFLINE`` (no network; cached files and local mirrors still
work), ``HUB_CORE_MIRROR`` (mirrors searched by file name before the upstream
URL; a mirror copy must have the published hash) and ``HUB_CORE_TIMEOUT``
(the longest network wait, and the base of every file's deadline).

A ``package://PACKAGE/PATH`` URL names a file inside an installed package
(a wheel that ``hub publish`` built ships its weights so): it is found without
importing the package, hashed on every use and never copied into the cache.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import urllib.parse
from typing import Callable

from hub_core import config
from hub_core.errors import ChecksumError, OfflineError, WeightsError
from hub_core.hub.spec import WeightFile
from hub_core.store.cache import (Hashes, hash_file, legacy_path, lock, lock_path, part_path, read_record,
                                  record_current, record_path, slot_path, write_record)
from hub_core.store.transfer import (ATTEMPTS, Deadline, Expected, Failed, Partial, fetch_source, local_path,
                                     local_writes)

__all__ = ["ATTEMPTS", "PACKAGE_SCHEME", "cache_name", "fetch_file", "fetch_location", "package_file", "safe_name"]

PACKAGE_SCHEME = "package://"


# -- names and hashes ------------------------------------------------------------
def safe_name(name: str, source: str) -> str:
    """Check that a remote file name is a plain name usable in the cache.

    Args:
        name: The file name (URL-decoded).
        source: Where the name comes from, for the error message.

    Returns:
        ``name``, unchanged.

    Raises:
        WeightsError: For names with ``/`` or ``\\``, ``..``, absolute paths,
            leading dots, control characters or empty names.
    """
    if (not name or "/" in name or "\\" in name or name.startswith(".") or os.path.isabs(name)
            or any(ord(ch) < 32 for ch in name) or (len(name) > 1 and name[1] == ":")):
        raise WeightsError(
            f"Refused the file name {name!r} from {source}: cached file names must be plain names "
            "without '/', '..', leading dots or absolute paths; fix the URL or set file_name."
        )
    return name


def _url_name(url: str) -> str:
    """The URL-decoded last path segment of ``url``."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def cache_name(weight_file: WeightFile) -> str:
    """The (checked) name under which ``weight_file`` is cached: its ``file_name`` or the URL's last segment."""
    return safe_name(weight_file.file_name or _url_name(weight_file.url), weight_file.url)


# -- the cached copy --------------------------------------------------------------
def _fsync_dir(folder: pathlib.Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op elsewhere)."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _cached(path: pathlib.Path, expected: Expected, url: str, *, strict: bool = True) -> Hashes | None:
    """The hashes of the cached ``path`` when it is usable for ``url``, else None.

    The sidecar record's hashes are trusted while the file's size and mtime
    are unchanged; otherwise the file is hashed again, and the record is
    refreshed where the cache is writable. A file without a published hash is
    usable when it was downloaded from ``url`` (or placed there by hand) and
    has not changed since.

    Raises:
        ChecksumError: Offline and ``strict``, when the cached file fails verification.
    """
    if not path.is_file():
        return None
    record = read_record(path)
    verified = expected.known or bool((record or {}).get("verified"))
    if not expected.known and record:
        if record.get("url") not in (None, url):
            return None
        expected = Expected(sha256=record.get("sha256"))
    stat = path.stat()
    trusted = record_current(record, path) and (record.get("md5") or not expected.needs_md5)
    hashes = Hashes(record["sha256"], record.get("md5")) if trusted else hash_file(path, md5=expected.needs_md5)
    if not expected.matches(hashes):
        if config.offline() and strict:
            raise ChecksumError(
                f"Cached file {path} has {expected.describe(hashes)}, and {config.OFFLINE.name}=1 forbids downloading it "
                f"again; run 'hub cache clear {path.name}' and download it on a connected machine."
            )
        return None
    if not trusted:
        with contextlib.suppress(OSError):  # a shared read-only cache: use the file, keep the old record
            write_record(path, hashes, (record or {}).get("url") or url, stat,
                         source=(record or {}).get("source"), verified=verified)
    return hashes


def _adopt_legacy(path: pathlib.Path, expected: Expected, url: str) -> bool:
    """Move a file that an earlier version cached as ``weights/NAME`` into its slot, when it is this URL's file.

    It must have the expected hash, or (without one) a record naming ``url``.
    """
    legacy = legacy_path(path.name)
    if not legacy.is_file() or (not expected.known and (read_record(legacy) or {}).get("url") != url):
        return False
    hashes = _cached(legacy, expected, url, strict=False)
    if hashes is None:
        return False
    source = (read_record(legacy) or {}).get("url")
    with local_writes(path.name, path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(legacy, path)
        record_path(legacy).unlink(missing_ok=True)
        write_record(path, hashes, url, source=source, verified=expected.known)
    return True


def _sources(name: str, url: str, expected: Expected) -> list[str]:
    """Mirror locations of ``name`` (only when a hash can verify them), then ``url``."""
    found = []
    if expected.known:
        for mirror in config.mirrors():
            if "://" in mirror:
                found.append(mirror.rstrip("/") + "/" + urllib.parse.quote(name))
            else:
                found.append(str(pathlib.Path(mirror).expanduser() / name))
    return found + [url]


def _waiting_bound(name: str, url: str, path: pathlib.Path, size: int | None) -> Callable[[], None]:
    """The ``give_up`` check of a process waiting for another's download of ``path`` (see :class:`Deadline`)."""
    deadline = Deadline(size)

    def give_up() -> None:
        part = part_path(path)
        deadline.received = max(deadline.received, part.stat().st_size if part.is_file() else 0)
        if deadline.expired():
            raise WeightsError(
                f"Gave up after {deadline.elapsed():.1f} s waiting for another process to download {name} from {url} "
                f"(it holds {lock_path(path)} and has written {deadline.received} bytes; {deadline.explain()}); "
                f"try again later, or raise {config.TIMEOUT.name}."
            )

    return give_up


def _final_error(name: str, url: str, path: pathlib.Path, expected: Expected, tried: list[Failed]) -> WeightsError:
    """The error for a file that no source gave: the last failure, naming every source tried before it."""
    reasons = [failure.reason for failure in tried]
    if tried and (tried[-1].final or not config.offline()):
        last = tried[-1]
        message = last.message if len(tried) == 1 else f"{last.message[:-1]} (tried first: {'; '.join(reasons[:-1])})."
        return last.error_class(message)
    copy_to = legacy_path(name) if expected.known else path  # a copy with the published hash is adopted from there
    return OfflineError(
        f"{name} is not in the cache ({config.home() / 'weights'}) and {config.OFFLINE.name}=1 forbids downloading it "
        f"from {url}" + (f" (mirrors: {'; '.join(reasons)})" if reasons else "")
        + f"; download it on a connected machine and copy it to {copy_to}, set {config.MIRROR.name} to a "
        f"folder that holds it, or unset {config.OFFLINE.name}."
    )


def _fetch_into_cache(url: str, name: str, expected: Expected, progress: bool) -> pathlib.Path:
    """Return the verified cached file ``name`` of ``url``, downloading it from mirrors or ``url``."""
    path = slot_path(url, name)
    if _cached(path, expected, url):  # no lock, no write: a read-only cache works
        return path
    sources = _sources(name, url, expected)
    if config.offline():
        sources = [s for s in sources if local_path(s) is not None]
        if not sources and not legacy_path(name).is_file():  # nothing to try: say so without touching the cache
            raise _final_error(name, url, path, expected, [])
    try:
        with contextlib.ExitStack() as held:
            with local_writes(name, path.parent):
                held.enter_context(lock(path, give_up=_waiting_bound(name, url, path, expected.size)))
            if _cached(path, expected, url) or _adopt_legacy(path, expected, url):
                return path  # another process finished it meanwhile, or an earlier version cached it
            return _fetch_sources(sources, url, name, expected, progress, path)
    except Failed as failure:
        raise failure.error_class(failure.message) from None


def _fetch_sources(sources: list[str], url: str, name: str, expected: Expected, progress: bool,
                   path: pathlib.Path) -> pathlib.Path:
    """Try ``sources`` in order until one gives the verified file; move it into ``path`` (under the slot's lock)."""
    deadline, tried = Deadline(expected.size), []
    with local_writes(name, path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    for source in sources:
        partial = Partial(part_path(path), source, expected)
        try:
            hashes = fetch_source(name, partial, deadline, progress)
            with local_writes(name, path.parent):
                os.replace(partial.path, path)
                partial.record.unlink(missing_ok=True)
                _fsync_dir(path.parent)
                write_record(path, hashes, url, source=source, verified=expected.known)
            return path
        except Failed as failure:
            if not (failure.resumable and partial.validator):
                partial.discard()
            tried.append(failure)
            if failure.final:
                break
    raise _final_error(name, url, path, expected, tried)


# -- files inside installed packages -----------------------------------------------
def package_file(url: str) -> pathlib.Path:
    """The installed file that a ``package://PACKAGE/PATH`` URL names, found without importing PACKAGE.

    Raises:
        WeightsError: When the URL is malformed, leaves the package's folder, or the package or file is missing.
    """
    package, _, relative = url[len(PACKAGE_SCHEME):].partition("/")
    parts = pathlib.PurePosixPath(relative).parts
    if not package.isidentifier() or not parts or any(part in ("..", ".") for part in parts) or relative.startswith("/"):
        raise WeightsError(f"Refused the weights URL {url!r}: expected {PACKAGE_SCHEME}PACKAGE/PATH, a file inside "
                           "an installed top-level package; fix the plugin's catalog data.")
    found = importlib.util.find_spec(package)  # a top-level name: located, not imported
    folders = list(found.submodule_search_locations or ()) if found else []
    for folder in folders:
        path = pathlib.Path(folder, *parts)
        if path.is_file():
            return path
    raise WeightsError(f"{url} is missing: the package {package} is not installed or lacks {relative}; "
                       "reinstall the distribution that provides the model.")


def _verified_local(local: pathlib.Path, expected: Expected, fix: str) -> pathlib.Path:
    """``local`` when it has the expected hash (any file without one).

    Raises:
        ChecksumError: When it does not; the message ends with ``fix``.
    """
    if expected.known:
        hashes = hash_file(local, md5=expected.needs_md5)
        if not expected.matches(hashes):
            raise ChecksumError(f"{local} has {expected.describe(hashes)}; {fix}")
    return local


# -- public API ----------------------------------------------------------------
def fetch_file(weight_file: WeightFile, progress: bool | None = None) -> pathlib.Path:
    """Return the verified local copy of a catalog weight file, downloading it if needed.

    Args:
        weight_file: The published file (URL, hashes, size, file name).
        progress: Show a progress bar on a terminal (None means yes).

    Returns:
        The path of the verified file in the cache; for a ``package://`` URL, the installed file itself,
        hashed on every call.

    Raises:
        ChecksumError: When no source gives a file with the published hash.
        OfflineError: When the file is missing and ``HUB_CORE_OFFLINE=1``.
        WeightsError: For unsafe file names or failed downloads.
    """
    expected = Expected(weight_file.sha256, weight_file.md5, weight_file.size)
    if weight_file.url.startswith(PACKAGE_SCHEME):
        return _verified_local(package_file(weight_file.url), expected,
                               "the installed package was changed; reinstall it with pip install --force-reinstall.")
    return _fetch_into_cache(weight_file.url, cache_name(weight_file), expected, progress is not False)


def fetch_location(url_or_path: str, *, sha256: str | None = None, progress: bool | None = None) -> pathlib.Path:
    """Return a local file for a user-supplied URL, ``file://`` URL or path.

    Remote URLs are cached in a slot of their own; they are verified when
    ``sha256`` is given. Local files are used where they are (verified when ``sha256`` is
    given, never deleted).

    Args:
        url_or_path: ``https://...``, ``file://...`` or a local path.
        sha256: Expected hex sha256, when known.
        progress: Show a progress bar on a terminal (None means yes).

    Raises:
        ChecksumError: When the file does not have ``sha256``.
        WeightsError: For a missing local file, an unsafe name or a failed download.
    """
    location = os.fspath(url_or_path)
    local = local_path(location)
    if local is None:
        return _fetch_into_cache(location, safe_name(_url_name(location), location), Expected(sha256), progress is not False)
    if not local.is_file():
        raise WeightsError(f"Weights file {local} does not exist; pass an existing file, a URL or a weight-set name.")
    return _verified_local(local, Expected(sha256), "pass the right file or hash.")
