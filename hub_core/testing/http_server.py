"""A real HTTP file server on 127.0.0.1 with fault injection, for tests.

Plugin authors can use it to test how their weight files download::

    from hub_core.testing.http_server import FileServer

    with FileServer(tmp_path) as server:
        server.fault("w.h5", "drop", times=1)       # first GET breaks mid-body
        path = hub.download(server.url("w.h5"), sha256=digest)
        assert server.count("w.h5") == 2           # the retry resumed with Range
        assert server.requests[-1].range == "bytes=..."

The server runs a ``ThreadingHTTPServer`` on an ephemeral port in a daemon
thread, serves the files of one directory (GET and HEAD, with ``Range`` and
``If-Range`` support; every answer has an ``ETag`` and a ``Last-Modified``
header), and records every request with its headers. Faults apply to one path or to every
path (``"*"``) for a number of GET requests:

* ``"truncate"``: send only the first ``keep`` bytes (default: half) with a
  matching ``Content-Length``, so the response looks complete but is short.
* ``"drop"``: announce the full length, send ``keep`` bytes, then close the
  connection mid-body.
* ``"corrupt"``: send the right length with wrong bytes (one byte flipped at
  offset ``at``, default the middle of the body).
* ``"ignore_range"``: answer ``200`` with the whole file even when the request
  has a ``Range`` header.
* ``"slow"``: wait ``delay`` seconds before answering, and send the body at
  ``rate`` bytes per second when given.
* ``"status"``: answer with HTTP ``status`` (default 503) and no body.
* ``"stall"``: send the first ``keep`` bytes (default: half), then wait
  ``delay`` seconds (default 60) with the connection open before the rest.
* ``"overflow"``: send the file followed by ``extra`` junk bytes (default
  64 MiB), without a ``Content-Length`` (the body ends when the connection
  closes), or announcing them all when ``announce`` is true.
"""

from __future__ import annotations

import dataclasses
import email.utils
import pathlib
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("truncate", "drop", "corrupt", "ignore_range", "slow", "status", "stall", "overflow")
_CHUNK = 16 * 1024
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclasses.dataclass
class Request:
    """One request the server received (logged on arrival, completed when answered).

    Attributes:
        method: ``"GET"`` or ``"HEAD"``.
        path: The requested file name (URL path without the leading ``/``).
        range: The ``Range`` header, or None.
        status: The HTTP status sent (0 while the answer is pending).
        sent: Body bytes sent so far.
        fault: The fault applied, or None.
        headers: Every request header (names as sent).
    """

    method: str
    path: str
    range: str | None
    fault: str | None
    status: int = 0
    sent: int = 0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Fault:
    kind: str
    times: int | None
    options: dict[str, Any]


class FileServer:
    """Serve the files of ``directory`` over HTTP on 127.0.0.1, with faults.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`).

    Args:
        directory: Folder whose files are served; sub-paths outside it are 404.
        host: Interface to bind; the port is chosen by the OS.

    Example:
        >>> with FileServer("/tmp/files") as server:
        ...     server.fault("w.h5", "slow", delay=0.5, times=1)
        ...     url = server.url("w.h5")
    """

    def __init__(self, directory: str | pathlib.Path, *, host: str = "127.0.0.1"):
        self.directory = pathlib.Path(directory).resolve()
        self.host = host
        self._lock = threading.Lock()
        self._faults: dict[str, list[_Fault]] = {}
        self._requests: list[Request] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "FileServer":
        """Bind an ephemeral port and serve in a daemon thread."""
        if self._httpd is None:
            self._httpd = ThreadingHTTPServer((self.host, 0), _Handler)
            self._httpd.daemon_threads = True
            self._httpd.owner = self  # type: ignore[attr-defined]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="hub-file-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> "FileServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        if self._httpd is None:
            raise RuntimeError("FileServer is not started; use it as a context manager or call start().")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def url(self, name: str) -> str:
        """The URL of file ``name`` (relative to the served directory)."""
        return self.base_url + urllib.parse.quote(name)

    # -- faults ------------------------------------------------------------
    def fault(self, path: str, kind: str, *, times: int | None = None, **options: Any) -> None:
        """Inject ``kind`` into the next ``times`` GETs of ``path``.

        Args:
            path: A served file name, or ``"*"`` for every path. Faults of a
                path are used before global ones, in the order added.
            kind: One of :data:`FAULTS`.
            times: How many GET requests it applies to; None means all of them.
            **options: ``keep`` (bytes, truncate/drop/stall), ``at`` (offset,
                corrupt), ``delay`` (slow/stall), ``rate`` (slow), ``status``
                (status), ``extra`` and ``announce`` (overflow).

        Raises:
            ValueError: For an unknown fault kind or option.
        """
        allowed = {"truncate": {"keep"}, "drop": {"keep"}, "corrupt": {"at"}, "ignore_range": set(),
                   "slow": {"delay", "rate"}, "status": {"status"}, "stall": {"keep", "delay"},
                   "overflow": {"extra", "announce"}}
        if kind not in allowed:
            raise ValueError(f"Unknown fault '{kind}'; expected one of {', '.join(FAULTS)}.")
        extra = set(options) - allowed[kind]
        if extra:
            raise ValueError(f"Fault '{kind}' takes no option(s) {', '.join(sorted(extra))}; "
                             f"it takes {', '.join(sorted(allowed[kind])) or 'none'}.")
        with self._lock:
            self._faults.setdefault(path, []).append(_Fault(kind, times, options))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for key in (path, "*"):
                queue = self._faults.get(key, [])
                while queue:
                    fault = queue[0]
                    if fault.times is None:
                        return fault
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            queue.pop(0)
                        return fault
                    queue.pop(0)
        return None

    # -- request log -------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return [dataclasses.replace(r) for r in self._requests]

    def count(self, path: str | None = None, method: str = "GET") -> int:
        """Number of ``method`` requests (for ``path``, or for all paths)."""
        return sum(1 for r in self.requests if r.method == method and (path is None or r.path == path))

    def reset_log(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _complete(self, request: Request, status: int, sent: int) -> None:
        with self._lock:
            request.status, request.sent = status, sent


class _Handler(BaseHTTPRequestHandler):
    server_version = "hub-core-test-server/1"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(with_body=False)

    def do_GET(self) -> None:
        self._serve(with_body=True)

    def _serve(self, *, with_body: bool) -> None:
        owner: FileServer = self.server.owner  # type: ignore[attr-defined]
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        fault = owner._take_fault(name) if with_body else None
        kind = fault.kind if fault else None
        options = fault.options if fault else {}
        record = Request(self.command, name, range_header, kind, headers=dict(self.headers.items()))
        owner._record(record)
        status, self._sent = 500, 0
        try:
            if kind == "slow":
                time.sleep(float(options.get("delay", 0)))
            file = (owner.directory / name).resolve()
            if not name or not file.is_relative_to(owner.directory) or not file.is_file():
                status = 404
                self.send_error(404, "Not Found")
                return
            if kind == "status":
                status = int(options.get("status", 503))
                self.send_error(status)
                return
            data, stat = file.read_bytes(), file.stat()
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
            if kind == "ignore_range" or self.headers.get("If-Range", etag) not in (etag, modified):
                range_header = None  # a changed file (or a server that ignores Range) is sent whole
            status, start, end = self._range(range_header, len(data))
            if status == 416:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:end]
            announced = len(body)
            if kind == "corrupt" and body:
                at = min(int(options.get("at", len(body) // 2)), len(body) - 1)
                body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1:]
            elif kind in ("truncate", "drop"):
                body = body[: int(options.get("keep", len(body) // 2))]
                if kind == "truncate":
                    announced = len(body)
            elif kind == "overflow":
                body += b"\0" * int(options.get("extra", 64 << 20))
                announced = len(body) if options.get("announce") else None
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            if announced is not None:
                self.send_header("Content-Length", str(announced))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            self.end_headers()
            if with_body and kind == "stall":
                keep = int(options.get("keep", len(body) // 2))
                self._send_body(body[:keep], None)
                self.wfile.flush()
                time.sleep(float(options.get("delay", 60)))
                body = body[keep:]
            if with_body:
                self._send_body(body, options.get("rate") if kind == "slow" else None)
            if kind == "drop":
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. its timeout fired)
        finally:
            owner._complete(record, status, self._sent)

    @staticmethod
    def _range(header: str | None, size: int) -> tuple[int, int, int]:
        """``(status, start, end)`` for a ``Range`` header (end exclusive)."""
        match = _RANGE.match(header.strip()) if header else None
        if not match:
            return 200, 0, size
        start = int(match.group(1))
        end = min(int(match.group(2)) + 1, size) if match.group(2) else size
        if start >= size or start >= end:
            return 416, 0, 0
        return 206, start, end

    def _send_body(self, body: bytes, rate: float | None) -> None:
        """Write ``body`` (at ``rate`` bytes/s when given), counting bytes in ``self._sent``."""
        chunk = _CHUNK if not rate else max(1, min(_CHUNK, int(float(rate) / 20)))
        for offset in range(0, len(body), chunk):
            piece = body[offset: offset + chunk]
            self.wfile.write(piece)
            self._sent += len(piece)
            if rate:
                self.wfile.flush()
                time.sleep(len(piece) / float(rate))
