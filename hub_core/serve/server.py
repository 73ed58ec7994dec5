"""Running the app with uvicorn: in the foreground (``hub serve``) or in a background thread (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator

START_SECONDS = 60  # how long a background server may take to listen


def make_server(app: Any, host: str, port: int, on_listening: Callable[[str], None] | None = None):
    """A ``uvicorn.Server`` for ``app`` that calls ``on_listening(url)`` for each address once it listens."""
    import uvicorn

    # log_config=None: uvicorn leaves the process's logging alone (its warnings still reach stderr)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning",
                                           access_log=False))
    started = server.startup

    async def startup(sockets=None):
        await started(sockets)
        for url in urls(server):
            if on_listening:
                on_listening(url)

    server.startup = startup
    return server


def urls(server) -> list[str]:
    """The ``http://HOST:PORT/`` of every socket a started uvicorn server listens on."""
    found = []
    for bound in getattr(server, "servers", ()):
        for sock in bound.sockets:
            host, port = sock.getsockname()[:2]
            found.append(f"http://{f'[{host}]' if ':' in host else host}:{port}/")
    return found


@contextlib.contextmanager
def background(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a daemon thread for the ``with`` block; yields its URL (port 0: a free port).

    Raises:
        RuntimeError: When the server does not listen within ``START_SECONDS``.
    """
    listening: list[str] = []
    server = make_server(app, host, port, listening.append)
    server.install_signal_handlers = lambda: None  # the thread is not the main one; older uvicorn asks
    thread = threading.Thread(target=server.run, name="hub-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not listening:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"The hub serve test server did not start listening on {host}:{port}.")
        time.sleep(0.02)
    try:
        yield listening[0]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
