"""``hub list``, ``hub info`` and ``hub plugins``."""

from __future__ import annotations

from hub_core.hub import catalog, registry
from hub_core.cli.main import print_json, print_table


def register(subparsers) -> None:
    """Add the catalog subcommands."""
    p = subparsers.add_parser("list", help="list models", description="List models, optionally filtered.")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern, e.g. 'res*'")
    p.add_argument("--task", help="only models of this task")
    p.add_argument("--pretrained", action="store_true", default=None, help="only models with weights")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=list_command)

    p = subparsers.add_parser("info", help="show a model's catalog entry", description="Show a model's catalog entry.")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=info_command)

    p = subparsers.add_parser("plugins", help="list plugins and their status", description="List installed plugins.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=plugins_command)


def list_command(args) -> int:
    names = catalog.list_models(args.pattern, task=args.task, pretrained=args.pretrained)
    entries = catalog.entries()
    rows = []
    for name in names:
        entry = catalog.info(name)
        variant = entry["variant"]
        rows.append(
            {
                "model": name,
                "plugin": entry["plugin"],
                "task": entry["task"],
                "params": variant["num_params"],
                "weights": sorted(variant["weights"]),
                "distribution": entries[entry["plugin"]]["distribution"],
            }
        )
    if args.json:
        print_json(rows)
    else:
        print_table(
            [
                (r["model"], r["plugin"], r["task"], f"{r['params']:,}" if r["params"] else "-", ",".join(r["weights"]) or "-")
                for r in rows
            ],
            ("MODEL", "PLUGIN", "TASK", "PARAMS", "WEIGHTS"),
        )
        if any(catalog.QUALIFIER in r["model"] for r in rows):
            print(f"Names written PLUGIN{catalog.QUALIFIER}MODEL are declared by several plugins: load them by that name.")
    return 0


def info_command(args) -> int:
    entry = catalog.info(args.name)
    if args.json:
        print_json(entry)
        return 0
    variant = entry["variant"]
    paper = entry.get("paper") or {}
    print(f"{entry['model']}  (plugin {entry['plugin']}, {entry['distribution']} {entry['version']})")
    print(f"  task:        {entry['task']}")
    print(f"  description: {variant['description'] or entry['description']}")
    print(f"  input shape: {variant['input_shape']}")
    print(f"  parameters:  {variant['num_params']:,}" if variant["num_params"] else "  parameters:  -")
    print(f"  preprocessing: {variant.get('preprocessing') or 'not recorded in its catalog data'}")
    if paper:
        print(f"  paper:       {paper['title']} ({paper['url']})")
    print(f"  variants:    {', '.join(entry['variants'])}")
    if variant.get("card"):
        from hub_core.publish.card import summary_lines

        for line in summary_lines(variant["card"]):
            print(f"  card {line}")
    print(f"  default weights: {variant['default_weights']}")
    for set_name, weight_set in variant["weights"].items():
        print(f"  weights '{set_name}': {weight_set['description']} [{weight_set['license']}]")
        for weight_file in weight_set["files"]:
            digest = weight_file.get("sha256") and f"sha256 {weight_file['sha256']}" or f"md5 {weight_file.get('md5')}"
            print(f"    {weight_file['role']}: {weight_file['url']} ({digest})")
        if weight_set["note"]:
            print(f"    note: {weight_set['note']}")
    return 0


def plugins_command(args) -> int:
    rows = registry.plugin_status()
    if args.json:
        print_json(rows)
    else:
        print_table([(r["name"], r["distribution"], r["version"], r["status"], r["reason"]) for r in rows],
                    ("PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "REASON"))
    return 0
