"""Core overheads: cold ``hub list`` against ``import keras``, and ``hub.load`` against the builder.

Targets: cold ``hub list`` takes at most 0.15 of ``python -c "import keras"`` with
TensorFlow absent from ``sys.modules``, both with the built-in plugins alone and with
50 installed third-party plugin distributions (generated in a temporary folder, each
shipping its ``hub_catalog.json``; their modules raise if imported, so a listing that
ran plugin code would miss them); ``hub.load(name, weights=None)`` adds at most 5% over
calling the plugin's builder directly.

Run: ``python benchmarks/bench_core.py``
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from common import interleaved_times, print_table, write_result

LIST_CODE = (
    "import sys, io, contextlib\n"
    "from hub_core.cli.main import main\n"
    "out = io.StringIO()\n"
    "with contextlib.redirect_stdout(out): main(['list'])\n"
    "print(int('tensorflow' in sys.modules or 'keras' in sys.modules), out.getvalue().count('bench_model_'))"
)
PLUGIN_MODULE = "raise RuntimeError('listing must not import plugin code')\n"


def cold(code: str, env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    return time.perf_counter() - start, out.strip()


def third_party_plugins(root: pathlib.Path, count: int) -> None:
    """Write ``count`` installed-looking plugin distributions under ``root``, each with its catalog data."""
    for index in range(count):
        name, package = f"bench_plugin_{index}", f"bench_plugin_{index}_pkg"
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(PLUGIN_MODULE)
        entry = {"task": "image-classification", "description": "generated", "license": "MIT", "paper": None,
                 "default_variant": f"bench_model_{index}", "capabilities": [],
                 "variants": {f"bench_model_{index}": {"description": "generated", "input_shape": [32, 32, 3],
                                                       "num_params": 10, "default_weights": None, "weights": {}}}}
        (root / package / "hub_catalog.json").write_text(json.dumps({"schema_version": 1, "plugins": {name: entry}}))
        dist_info = root / f"bench_plugin_{index}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: bench-plugin-{index}\nVersion: 1.0\n")
        (dist_info / "entry_points.txt").write_text(f"[hub_core.plugins]\n{name} = {package}:Plugin\n")
        (dist_info / "RECORD").write_text(f"{package}/__init__.py,,\n{package}/hub_catalog.json,,\n")


def bench_list(repeats: int = 7, extra_plugins: int = 0) -> dict:
    env = None
    with tempfile.TemporaryDirectory() as tmp:
        if extra_plugins:
            third_party_plugins(pathlib.Path(tmp), extra_plugins)
            env = dict(os.environ, PYTHONPATH=tmp)
        hub_times, keras_times, leaked, listed = [], [], [], []
        for _ in range(repeats):
            seconds, out = cold(LIST_CODE, env)
            hub_times.append(seconds)
            heavy, count = out.split()
            leaked.append(heavy == "1")
            listed.append(int(count))
            keras_times.append(cold("import keras")[0])
    hub_s, keras_s = statistics.median(hub_times), statistics.median(keras_times)
    return {
        "measure": f"cold `hub list` vs `import keras`{f', {extra_plugins} third-party plugins' if extra_plugins else ''}",
        "hub_s": hub_s,
        "anchor_s": keras_s,
        "ratio": hub_s / keras_s,
        "target": "<= 0.15",
        "ok": hub_s / keras_s <= 0.15 and not any(leaked) and min(listed) == extra_plugins,
        "tensorflow_imported": any(leaked),
        "third_party_listed": min(listed),
    }


def bench_load(name: str, repeats: int = 11) -> dict:
    import hub_core as hub
    from hub_core.hub import catalog, registry

    plugin_name, variant_name = catalog.resolve(name)
    plugin = registry.get_plugin(plugin_name)
    variant = plugin.variant(variant_name)
    times = interleaved_times(
        {
            "builder": lambda: plugin.build(variant, weights=None),
            "hub.load": lambda: hub.load(name, weights=None),
        },
        repeats=repeats,
    )
    ratio = times["hub.load"] / times["builder"]
    return {
        "measure": f"hub.load('{name}', weights=None) vs plugin builder",
        "hub_s": times["hub.load"],
        "anchor_s": times["builder"],
        "ratio": ratio,
        "target": "<= 1.05",
        "ok": ratio <= 1.05,
    }


def main() -> None:
    rows = [bench_list(), bench_list(extra_plugins=50)]
    for name in ("resnet50", "vgg16"):
        rows.append(bench_load(name))
    path = write_result("core", rows)
    print_table(rows, ["measure", "hub_s", "anchor_s", "ratio", "target", "ok"])
    print(f"wrote {path}")
    print(json.dumps({"all_ok": all(r["ok"] for r in rows)}))


if __name__ == "__main__":
    main()
