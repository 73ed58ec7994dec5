"""``hub serve``: the web catalog, run pages and try-it inference (needs the ``serve`` extra)."""

from __future__ import annotations

import importlib.util

from hub_core.errors import HubError

EXTRA_MODULES = ("fastapi", "jinja2", "uvicorn", "multipart", "markdown", "yaml")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def register(subparsers) -> None:
    """Add ``hub serve``."""
    p = subparsers.add_parser("serve", help="serve the web catalog, run pages and try-it inference",
                              description="Serve a local web app: the model catalog, a page per model and per run "
                                          "directory, try-it inference and the JSON API (OpenAPI page at /docs).")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--runs", action="append", default=[], metavar="DIR",
                   help="a folder of run directories to show (repeatable)")
    p.set_defaults(func=serve_command)


def serve_command(args) -> int:
    """Run the server until interrupted; print its URL once it listens."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise HubError(f"hub serve needs the serve extra ({', '.join(missing)} not installed); "
                       'install it with: pip install "hub-core[serve]"')
    import pathlib

    for folder in args.runs:
        if not pathlib.Path(folder).is_dir():
            raise HubError(f"--runs {folder} is not a folder; pass a folder that holds run directories.")
    from hub_core.serve.app import create_app
    from hub_core.serve.server import make_server

    def listening(url: str) -> None:
        print(f"hub serve: listening on {url} (Ctrl+C stops it)", flush=True)

    make_server(create_app(runs=args.runs), args.host, args.port, listening).run()
    return 0
