"""One source of one file into the partial file of its cache slot: deadlines, Range resume, size caps, disk errors.

:mod:`hub_core.store.download` picks the sources (mirrors, then upstream)
and moves a verified file into place; this module makes the attempts. A
transfer never reads more bytes than the published size (else the
``Content-Length``) announces, gives up at its :class:`Deadline`, retries cut
connections with backoff and resumes them with ``Range`` plus ``If-Range``,
and turns a local write error (a full disk) into one final failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import http.client
import json
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
from hub_core.errors import ChecksumError, InvalidArgumentError, WeightsError
from hub_core.files import atomic_write
from hub_core.store.cache import CHUNK, Hashes, hash_file, read_json

ATTEMPTS = 4
BACKOFF_SECONDS = 0.5
MIN_RATE = 64 * 1024  # bytes per second: the slowest average a file may arrive at, beyond its waiting allowance
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def timeout() -> float:
    """``HUB_CORE_TIMEOUT`` in seconds, or an ``InvalidArgumentError`` for a malformed value."""
    try:
        return config.timeout()
    except ValueError as error:
        raise InvalidArgumentError(str(error)) from None


@dataclasses.dataclass(frozen=True)
class Expected:
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


# -- deadlines and failures ------------------------------------------------------
class Deadline:
    """The overall deadline of one file, from ``HUB_CORE_TIMEOUT`` (T seconds).

    Each network wait (connecting, each read) is capped at T. A file's whole
    download, retries and mirrors included, may take ``ATTEMPTS × T`` seconds
    of waiting plus one second per :data:`MIN_RATE` bytes of its size (the
    published size, else the ``Content-Length``, else the bytes received so
    far); past that it is abandoned. A process waiting for another's download
    gives up under the same bound, counting the bytes the other has written.

    Args:
        size: The expected size in bytes, when known.
    """

    def __init__(self, size: int | None):
        self.timeout = timeout()
        self.size = size
        self.received = 0
        self.started = time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the deadline started."""
        return time.monotonic() - self.started

    def expired(self) -> bool:
        """Whether the time allowed for the file has passed."""
        return self.elapsed() > ATTEMPTS * self.timeout + max(self.size or 0, self.received) / MIN_RATE

    def explain(self) -> str:
        """The rule, for error messages."""
        return (f"{config.TIMEOUT.name}={self.timeout:g} allows a file {ATTEMPTS} x {self.timeout:g} s of waiting "
                f"plus 1 s per {MIN_RATE // 1024} KiB")


class Failed(Exception):
    """One source could not give the file.

    Attributes:
        error_class: The ``HubError`` to raise when this is the last source tried.
        message: The sentence for that error.
        reason: A short account for the list of sources tried.
        final: No other source should be tried (a local error, or the deadline passed).
        resumable: The partial file may be resumed later (the transfer was cut, not wrong).
    """

    def __init__(self, error_class: type[WeightsError], message: str, reason: str, *,
                 final: bool = False, resumable: bool = False):
        super().__init__(message)
        self.error_class, self.message, self.reason = error_class, message, reason
        self.final, self.resumable = final, resumable


class _Interrupted(Exception):
    """A transfer ended before all announced bytes arrived."""


@contextlib.contextmanager
def local_writes(name: str, folder: pathlib.Path) -> Iterator[None]:
    """Turn an ``OSError`` of a local file operation into a final failure about the disk or the folder."""
    try:
        yield
    except OSError as error:
        if error.errno in _DISK_ERRORS:
            problem = (f"the disk is full or refuses a file this large ({error.strerror}); free space there or set "
                       f"{config.HOME.name} to a disk with room")
        else:
            problem = f"{error.strerror or error}; make the folder writable or set {config.HOME.name} to one that is"
        raise Failed(WeightsError, f"Could not write {name} in {folder}: {problem}, then try again.",
                     f"writing to {folder} failed ({error.strerror or error})", final=True) from None


def expired(name: str, source: str, deadline: Deadline) -> Failed:
    """The final failure of a file whose :class:`Deadline` passed (its partial file stays for a later resume)."""
    return Failed(
        WeightsError,
        f"Gave up downloading {name} from {source} after {deadline.elapsed():.1f} s with {deadline.received} "
        f"bytes received ({deadline.explain()}); retry later, set {config.MIRROR.name}, or raise "
        f"{config.TIMEOUT.name}.",
        f"{source} was too slow ({deadline.received} bytes in {deadline.elapsed():.1f} s)", final=True, resumable=True)


@dataclasses.dataclass
class Partial:
    """The partial download of a cache slot from one source, with the record that lets a later process resume it.

    The record (``.part.json``) holds the source, the expected hashes and the
    server's validator (``ETag``, else ``Last-Modified``); a later process
    resumes the bytes with ``Range`` and ``If-Range`` only when all of them agree.
    """

    path: pathlib.Path
    source: str
    expected: Expected
    validator: str | None = None

    @property
    def record(self) -> pathlib.Path:
        """The ``.part.json`` record beside the partial file."""
        return self.path.with_name(self.path.name + ".json")

    def _identity(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.expected.sha256, "md5": self.expected.md5}

    def size(self) -> int:
        """The bytes present so far."""
        return self.path.stat().st_size if self.path.is_file() else 0

    def adopt(self) -> None:
        """Keep the bytes an earlier process left when they are the same file from the same server, else delete them."""
        record = read_json(self.record) or {}
        if self.path.is_file() and record.get("validator") and \
                all(record.get(key) == value for key, value in self._identity().items()):
            self.validator = record["validator"]
        else:
            self.discard()

    def begin(self, validator: str | None) -> None:
        """Record what a fresh body (from byte 0) is, before its bytes arrive."""
        self.validator = validator
        atomic_write(self.record, json.dumps({**self._identity(), "validator": validator}).encode())

    def discard(self) -> None:
        """Delete the partial file and its record."""
        self.path.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)


def local_path(location: str) -> pathlib.Path | None:
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


def _oversized(name: str, source: str, detail: str) -> Failed:
    return Failed(WeightsError, f"Refused {name} from {source}: {detail}; nothing was cached, so use another "
                                "mirror or report the file to its publisher.",
                  f"{source} {detail}")


def _transfer_once(name: str, partial: Partial, deadline: Deadline, progress: bool) -> None:
    """One HTTP attempt, resuming ``partial`` with ``Range`` (and ``If-Range``) when it has bytes."""
    offset, size, folder = partial.size(), partial.expected.size, partial.path.parent
    headers = {"User-Agent": "hub-core"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if partial.validator:
            headers["If-Range"] = partial.validator
    request = urllib.request.Request(partial.source, headers=headers)
    with urllib.request.urlopen(request, timeout=deadline.timeout) as response:
        resumed = bool(offset) and response.status == 206 and _content_range_start(response) == offset
        if not resumed:
            offset = 0  # a 200 answer to a Range request: restart the file
        length = response.headers.get("Content-Length")
        announced = offset + int(length) if length and length.isdigit() else None
        if size is not None and announced is not None and announced > size:
            raise _oversized(name, partial.source, f"announces {announced} bytes, more than the published {size}")
        limit = size if size is not None else announced
        deadline.size = deadline.size or limit
        received = offset
        with local_writes(name, folder):
            if not resumed:
                partial.begin(response.headers.get("ETag") or response.headers.get("Last-Modified"))
            out = open(partial.path, "ab" if resumed else "wb")
        with out, _progress(name, limit, offset, progress) as update:
            while chunk := response.read1(CHUNK):
                received += len(chunk)
                if limit is not None and received > limit:
                    partial.discard()
                    raise _oversized(name, partial.source, f"sent more than the {limit} bytes expected")
                with local_writes(name, folder):
                    out.write(chunk)
                    out.flush()  # a killed process leaves every received byte for the next one to resume
                deadline.received += len(chunk)
                update(len(chunk))
                if deadline.expired():
                    raise expired(name, partial.source, deadline)
            with local_writes(name, folder):
                os.fsync(out.fileno())
    for total in (announced, size):
        if total is not None and received < total:
            raise _Interrupted(f"the connection ended after {received} of {total} bytes")


def transfer(name: str, partial: Partial, deadline: Deadline, progress: bool) -> None:
    """Download ``partial.source`` into ``partial`` with retries, backoff and Range resume.

    Raises:
        Failed: On 404, a permanent HTTP error, too many bytes, a local write
            error, the deadline, or when every attempt failed.
    """
    source, size = partial.source, partial.expected.size
    last_error: BaseException | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        if deadline.expired():
            raise expired(name, source, deadline)
        if size is not None and partial.size() >= size:
            if partial.size() == size:
                return
            partial.discard()
        try:
            _transfer_once(name, partial, deadline, progress)
            return
        except urllib.error.HTTPError as error:
            last_error = error
            if error.code == 404:
                raise Failed(WeightsError, f"Could not download {name}: {source} answered 404; check the URL or the "
                                           "weight set.", f"{source} answered 404") from None
            if error.code == 416:
                partial.discard()  # our partial file does not fit the server's: restart
            elif error.code < 500 and error.code not in (408, 425, 429):
                raise Failed(WeightsError, f"Could not download {source}: the server answered HTTP {error.code} "
                                           f"{error.reason}; check the URL and your access to it.",
                             f"{source} answered HTTP {error.code}") from None
        except (OSError, http.client.HTTPException, _Interrupted) as error:
            last_error = error
    raise Failed(WeightsError, f"Could not download {source} after {ATTEMPTS} attempts (last error: {last_error}); "
                               f"check the network (or set {config.MIRROR.name}) and try again.",
                 f"{source} failed {ATTEMPTS} attempts ({last_error})", resumable=True)


def copy_local(name: str, source: pathlib.Path, partial: Partial) -> None:
    """Copy a mirror folder's file into ``partial`` (fsynced)."""
    if not source.is_file():
        raise Failed(WeightsError, f"{name} is not in the mirror folder {source.parent}.", f"{source} does not exist")
    with open(source, "rb") as src, local_writes(name, partial.path.parent), open(partial.path, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def fetch_source(name: str, partial: Partial, deadline: Deadline, progress: bool) -> Hashes:
    """Fetch ``partial.source`` into ``partial`` and verify it; return its hashes."""
    local = local_path(partial.source)
    if local is not None:
        partial.discard()
        copy_local(name, local, partial)
    else:
        partial.adopt()
        transfer(name, partial, deadline, progress)
    expected = partial.expected
    hashes = hash_file(partial.path, md5=expected.needs_md5)
    if not expected.matches(hashes):
        raise Failed(ChecksumError, f"{name} from {partial.source} has {expected.describe(hashes)}; it was deleted and "
                                    "nothing was cached, so retry later, use another mirror, or report the broken "
                                    "file upstream.", f"{partial.source} has {expected.describe(hashes)}")
    return hashes
