"""The weights store's downloader: fetch and verify weight files into the cache.

A download is streamed to a hidden temp file in the cache folder
(:mod:`hub_core.store.cache`), fsynced, verified (sha256, or md5 where only
that is published) and then renamed into place, under a file lock so that
concurrent processes download a file once. Interrupted transfers are retried
with backoff and resumed with HTTP ``Range``; a server that answers ``200``
to a ``Range`` request restarts the file.

Each cached file has a sidecar record with its hashes, size and mtime; a file
whose size or mtime changed is hashed again before it is used.

Settings (:mod:`hub_core.config`): ``HUB_CORE_HOME`` (cache root),
``HUB_CORE_OFFLINE`` (no network; cached files and local mirrors still
work), ``HUB_CORE_MIRROR`` (mirrors searched by file name before the upstream
URL; a mirror copy must have the published hash) and ``HUB_CORE_TIMEOUT``
(socket timeout in seconds).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import pathlib
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator

from hub_core import config
from hub_core.errors import ChecksumError, InvalidArgumentError, OfflineError, WeightsError
from hub_core.hub.spec import WeightFile
from hub_core.store.cache import CHUNK, Hashes, hash_file, lock, read_record, record_current, weights_dir, write_record

ATTEMPTS = 4
BACKOFF_SECONDS = 0.5


def _timeout() -> float:
    try:
        return config.timeout()
    except ValueError as error:
        raise InvalidArgumentError(str(error)) from None


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


@dataclasses.dataclass(frozen=True)
class _Expected:
    """What a file must hash to (sha256 preferred, md5 when only that is published)."""

    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def known(self) -> bool:
        return bool(self.sha256 or self.md5)

    @property
    def needs_md5(self) -> bool:
        return bool(self.md5 and not self.sha256)

    def matches(self, hashes: Hashes) -> bool:
        if self.sha256:
            return hashes.sha256 == self.sha256.lower()
        if self.md5:
            return hashes.md5 == self.md5.lower()
        return True

    def describe(self, hashes: Hashes) -> str:
        """``'sha256 <actual>, expected <wanted>'`` for the hash in use."""
        if self.sha256:
            return f"sha256 {hashes.sha256}, expected {self.sha256.lower()}"
        return f"md5 {hashes.md5}, expected {str(self.md5).lower()}"


# -- the cached copy --------------------------------------------------------------
def _fsync_dir(folder: pathlib.Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op elsewhere)."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _cached(path: pathlib.Path, expected: _Expected, url: str) -> Hashes | None:
    """The hashes of the cached ``path`` when it is usable for ``url``, else None.

    The sidecar record's hashes are trusted while the file's size and mtime
    are unchanged; otherwise the file is hashed again. A file without a
    published hash is usable when it was downloaded from ``url`` (or placed
    there by hand) and has not changed since.

    Raises:
        ChecksumError: Offline, when the cached file fails verification.
    """
    if not path.is_file():
        return None
    record = read_record(path.name)
    if not expected.known and record:
        if record.get("url") not in (None, url):
            return None
        expected = _Expected(sha256=record.get("sha256"))
    stat = path.stat()
    trusted = record_current(record, path) and (record.get("md5") or not expected.needs_md5)
    hashes = Hashes(record["sha256"], record.get("md5")) if trusted else hash_file(path, md5=expected.needs_md5)
    if not expected.matches(hashes):
        if config.offline():
            raise ChecksumError(
                f"Cached file {path} has {expected.describe(hashes)}, and {config.OFFLINE.name}=1 forbids downloading it "
                f"again; run 'hub cache clear {path.name}' and download it on a connected machine."
            )
        return None
    if not trusted:
        write_record(path, hashes, (record or {}).get("url") or url, stat)
    return hashes


# -- transfers -----------------------------------------------------------------
class _Missing(Exception):
    """The source does not have the file (404, or absent from a mirror folder)."""


class _Interrupted(Exception):
    """A transfer ended before all announced bytes arrived."""


def _local_path(location: str) -> pathlib.Path | None:
    """The local path of a ``file://`` URL or plain path, or None for remote URLs."""
    if location.startswith("file://"):
        return pathlib.Path(urllib.request.url2pathname(urllib.parse.urlsplit(location).path))
    if "://" in location:
        return None
    return pathlib.Path(location).expanduser()


@contextlib.contextmanager
def _progress(name: str, total: int | None, initial: int, enabled: bool) -> Iterator[Callable[[int], Any]]:
    """A byte-progress callback: a tqdm bar on a terminal, else a no-op."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda count: None
        return
    from tqdm import tqdm

    with tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
              file=sys.stderr, leave=False) as bar:
        yield bar.update


def _content_range_start(response: http.client.HTTPResponse) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _transfer_once(url: str, temp: pathlib.Path, size: int | None, progress: bool) -> None:
    """One HTTP attempt, resuming ``temp`` with ``Range`` when it has bytes."""
    offset = temp.stat().st_size if temp.exists() else 0
    headers = {"User-Agent": "hub-core"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=_timeout()) as response:
        resumed = bool(offset) and response.status == 206 and _content_range_start(response) == offset
        if not resumed:
            offset = 0  # a 200 answer to a Range request: restart the file
        length = response.headers.get("Content-Length")
        announced = offset + int(length) if length and length.isdigit() else None
        received = offset
        with open(temp, "ab" if resumed else "wb") as out, \
                _progress(_url_name(url), size or announced, offset, progress) as update:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    for total in (announced, size):
        if total is not None and received < total:
            raise _Interrupted(f"the connection ended after {received} of {total} bytes")


def _transfer(url: str, temp: pathlib.Path, size: int | None, progress: bool) -> None:
    """Download ``url`` to ``temp`` with retries, backoff and Range resume.

    Raises:
        _Missing: When the server answers 404.
        WeightsError: When every attempt failed, or on a permanent HTTP error.
    """
    last_error: BaseException | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        if size is not None and temp.exists() and temp.stat().st_size >= size:
            if temp.stat().st_size == size:
                return
            temp.unlink()
        try:
            _transfer_once(url, temp, size, progress)
            return
        except urllib.error.HTTPError as error:
            last_error = error
            if error.code == 404:
                raise _Missing(f"{url} answered 404") from None
            if error.code == 416:
                temp.unlink(missing_ok=True)  # our partial file does not fit the server's: restart
            elif error.code < 500 and error.code not in (408, 425, 429):
                raise WeightsError(f"Could not download {url}: the server answered HTTP {error.code} {error.reason}; "
                                   "check the URL and your access to it.") from None
        except (OSError, http.client.HTTPException, _Interrupted) as error:
            last_error = error
    raise WeightsError(
        f"Could not download {url} after {ATTEMPTS} attempts (last error: {last_error}); "
        f"check the network (or set {config.MIRROR.name}) and try again."
    )


def _copy_local(source: pathlib.Path, temp: pathlib.Path) -> None:
    if not source.is_file():
        raise _Missing(f"{source} does not exist")
    with open(source, "rb") as src, open(temp, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def _sources(name: str, url: str, expected: _Expected) -> list[str]:
    """Mirror locations of ``name`` (only when a hash can verify them), then ``url``."""
    found = []
    if expected.known:
        for mirror in config.mirrors():
            if "://" in mirror:
                found.append(mirror.rstrip("/") + "/" + urllib.parse.quote(name))
            else:
                found.append(str(pathlib.Path(mirror).expanduser() / name))
    return found + [url]


def _fetch_into_cache(url: str, name: str, expected: _Expected, progress: bool) -> pathlib.Path:
    """Return the verified cached file ``name``, downloading it from mirrors or ``url``."""
    path = weights_dir() / name
    if _cached(path, expected, url):
        return path
    with lock(name):
        if _cached(path, expected, url):  # another process finished it meanwhile
            return path
        sources = _sources(name, url, expected)
        if config.offline():
            sources = [s for s in sources if _local_path(s) is not None]
        temp = path.with_name(f".{name}.part")
        mirror_errors = []
        for source in sources:
            temp.unlink(missing_ok=True)
            try:
                local = _local_path(source)
                if local is not None:
                    _copy_local(local, temp)
                else:
                    _transfer(source, temp, expected.size, progress)
                hashes = hash_file(temp, md5=expected.needs_md5)
                if not expected.matches(hashes):
                    raise ChecksumError(
                        f"{name} from {source} has {expected.describe(hashes)}; it was deleted and nothing was "
                        "cached, so retry later, use another mirror, or report the broken file upstream."
                    )
                os.replace(temp, path)
                _fsync_dir(path.parent)
                write_record(path, hashes, source)
                return path
            except _Missing as error:
                if source == url:
                    raise WeightsError(f"Could not download {name}: {error}; check the URL or the weight set.") from None
                mirror_errors.append(str(error))
            except WeightsError as error:
                if source == url:
                    raise
                mirror_errors.append(str(error))
            finally:
                temp.unlink(missing_ok=True)
        raise OfflineError(
            f"{name} is not in the cache ({weights_dir()}) and {config.OFFLINE.name}=1 forbids downloading it from {url}"
            + (f" (mirrors: {'; '.join(mirror_errors)})" if mirror_errors else "")
            + f"; download it on a connected machine and copy it to {path}, set {config.MIRROR.name} to a folder "
            f"that holds it, or unset {config.OFFLINE.name}."
        )


# -- public API ----------------------------------------------------------------
def fetch_file(weight_file: WeightFile, progress: bool | None = None) -> pathlib.Path:
    """Return the verified local copy of a catalog weight file, downloading it if needed.

    Args:
        weight_file: The published file (URL, hashes, size, file name).
        progress: Show a progress bar on a terminal (None means yes).

    Returns:
        The path of the verified file in the cache.

    Raises:
        ChecksumError: When no source gives a file with the published hash.
        OfflineError: When the file is missing and ``HUB_CORE_OFFLINE=1``.
        WeightsError: For unsafe file names or failed downloads.
    """
    expected = _Expected(weight_file.sha256, weight_file.md5, weight_file.size)
    return _fetch_into_cache(weight_file.url, cache_name(weight_file), expected, progress is not False)


def fetch_location(url_or_path: str, *, sha256: str | None = None, progress: bool | None = None) -> pathlib.Path:
    """Return a local file for a user-supplied URL, ``file://`` URL or path.

    Remote URLs are cached by file name; they are verified when ``sha256`` is
    given. Local files are used where they are (verified when ``sha256`` is
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
    local = _local_path(location)
    if local is None:
        return _fetch_into_cache(location, safe_name(_url_name(location), location), _Expected(sha256), progress is not False)
    if not local.is_file():
        raise WeightsError(f"Weights file {local} does not exist; pass an existing file, a URL or a weight-set name.")
    if sha256:
        expected, hashes = _Expected(sha256), hash_file(local)
        if not expected.matches(hashes):
            raise ChecksumError(f"{local} has {expected.describe(hashes)}; pass the right file or hash.")
    return local
