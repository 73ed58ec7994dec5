"""Helpers shared by the benchmark scripts: timing, JSON results and tables."""

from __future__ import annotations

import json
import pathlib
import platform
import statistics
import time
from typing import Any, Callable, Sequence

RESULTS = pathlib.Path(__file__).parent / "results"


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1,
                      stat: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Times of several callables measured in turn (A, B, A, B...) to share machine noise.

    ``stat`` reduces each callable's samples (the median by default; ``min`` for
    one-off work such as model builds, where noise only ever adds time).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: stat(values) for name, values in samples.items()}


def write_result(name: str, rows: list[dict[str, Any]], **extra: Any) -> pathlib.Path:
    """Write ``benchmarks/results/<name>.json`` with the rows and machine details."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": platform.platform(), "processor": platform.processor(), "rows": rows, **extra}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Print dict rows as an aligned table."""
    if not rows:
        return
    columns = list(columns or rows[0])

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = [columns] + [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
