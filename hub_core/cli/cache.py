"""``hub download`` and ``hub cache ls|verify|clear``."""

from __future__ import annotations

from hub_core import config
from hub_core.cli.main import print_json, print_table


def register(subparsers) -> None:
    """Add the download and cache subcommands."""
    p = subparsers.add_parser(
        "download", help="download verified weights into the cache",
        description="Download a model's weight set (or a URL) into the cache, verify it, and print its path.",
    )
    p.add_argument("name", help="model or plugin name, URL, file:// URL or path")
    p.add_argument("--weights", metavar="SET", help="weight set of the model (default: its default set)")
    p.add_argument("--sha256", metavar="HASH", help="expected sha256 of a URL download")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(func=download_command)

    cache = subparsers.add_parser("cache", help="inspect and clean the weights cache",
                                  description=f"Inspect, verify and clean the weights cache (${config.HOME.name}/weights, "
                                              f"the converted files in ${config.HOME.name}/converted and the inference "
                                              f"engines' exports in ${config.HOME.name}/engines).")
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_text, func in (
        ("ls", "list cached files", ls_command),
        ("verify", "hash cached files again and report corrupt ones", verify_command),
        ("clear", "delete cached files", clear_command),
    ):
        q = actions.add_parser(action, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        q.add_argument("name", nargs="?",
                       help="a cached file name, an engine export's key or a model name (default: every file)")
        q.add_argument("--json", action="store_true", help="print JSON")
        q.set_defaults(func=func)


def download_command(args) -> int:
    """Download and print the main file's path."""
    import sys

    from hub_core import api

    path = api.download(args.name, sha256=args.sha256, weights=args.weights, progress=not args.no_progress)
    print(path)
    if not path.is_relative_to(config.home()):  # a set shipped inside an installed package
        print(f"hub: nothing to download: the weights ship inside an installed package, at {path} (its sha256 "
              "verified against the published one); hub.load reads them from there.", file=sys.stderr)
    return 0


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _source(entry: dict) -> str:
    """The SOURCE column of ``hub cache ls``."""
    if entry["kind"] == "engine":
        return f"{entry['format'] or 'engine'} export of {entry['model'] or 'a model'}"
    return entry["url"] or {"download": "-", "converted": "converted from a pickle"}[entry["kind"]]


def ls_command(args) -> int:
    """List cached files."""
    from hub_core import api
    from hub_core.store import cache

    entries = cache.cache_entries(api.cached_files(args.name))
    if args.json:
        print_json({"cache": str(cache.weights_dir()), "files": entries})
        return 0
    print(f"cache: {cache.weights_dir()}")
    print_table(
        [(e["name"], _size(e["size"]), (e["sha256"] or "-")[:16], _source(e)) for e in entries],
        ("FILE", "SIZE", "SHA256", "SOURCE"),
    )
    return 0


def verify_command(args) -> int:
    """Verify cached files; exit 1 when one is corrupt."""
    from hub_core import api
    from hub_core.store import cache

    results = cache.verify_cache(api.cached_files(args.name))
    if args.json:
        print_json(results)
    else:
        print_table([(r["name"], r["status"], r["sha256"]) for r in results], ("FILE", "STATUS", "SHA256"))
    corrupt = [r["name"] for r in results if r["status"] == "corrupt"]
    if corrupt and not args.json:
        print(f"{len(corrupt)} corrupt file(s); delete with: hub cache clear NAME, then download again "
              "(an engine export is made again on its next use).")
    return 1 if corrupt else 0


def clear_command(args) -> int:
    """Delete cached files and print what was removed."""
    from hub_core import api
    from hub_core.store import cache

    removed = cache.clear_cache(api.cached_files(args.name))
    if args.json:
        print_json(removed)
    else:
        print(f"removed {len(removed)} file(s), {_size(sum(r['size'] for r in removed))}")
    return 0
