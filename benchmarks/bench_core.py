"""Core overheads: cold ``hub list`` against ``import keras``, and ``hub.load`` against the builder.

Targets (issue 2): cold ``hub list`` takes at most 0.15 of ``python -c "import keras"``
with TensorFlow absent from ``sys.modules``; ``hub.load(name, weights=None)`` adds at
most 5% over calling the plugin's builder directly.

Run: ``python benchmarks/bench_core.py``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from common import interleaved_times, print_table, write_result

LIST_CODE = (
    "import sys, io, contextlib\n"
    "from hub_core.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()): main(['list'])\n"
    "print(int('tensorflow' in sys.modules or 'keras' in sys.modules))"
)


def cold(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out.strip()


def bench_list(repeats: int = 7) -> dict:
    hub_times, keras_times, leaked = [], [], []
    for _ in range(repeats):
        seconds, out = cold(LIST_CODE)
        hub_times.append(seconds)
        leaked.append(out == "1")
        keras_times.append(cold("import keras")[0])
    hub_s, keras_s = statistics.median(hub_times), statistics.median(keras_times)
    return {
        "measure": "cold `hub list` vs `import keras`",
        "hub_s": hub_s,
        "anchor_s": keras_s,
        "ratio": hub_s / keras_s,
        "target": "<= 0.15",
        "ok": hub_s / keras_s <= 0.15 and not any(leaked),
        "tensorflow_imported": any(leaked),
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
    rows = [bench_list()]
    for name in ("resnet50", "vgg16"):
        rows.append(bench_load(name))
    path = write_result("core", rows)
    print_table(rows, ["measure", "hub_s", "anchor_s", "ratio", "target", "ok"])
    print(f"wrote {path}")
    print(json.dumps({"all_ok": all(r["ok"] for r in rows)}))


if __name__ == "__main__":
    main()
