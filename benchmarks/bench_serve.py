"""Try-it latency of ``hub serve`` against the same prediction in-process.

The server is the real ``hub serve --port 0`` (a subprocess, uvicorn on 127.0.0.1, the default ``engine="auto"``);
each request is ``POST /api/predict`` with one foolbox ImageNet photo (efficientnet_lite0 at 224x224, top-5 JSON).
The anchor is ``hub.predict``'s path in this process on the same image file with the model opened once
(``hub_core.training.predict.Predictor``, as the server holds it), timed interleaved with the 1-client requests so
both see the same machine noise. ``hub.predict(name, file)`` itself, which opens the model on every call, is timed
a few times for scale.

Rows: latency p50 / p95 with 1 and 4 concurrent clients (each a keep-alive ``httpx.Client``), requests per
second with 4 clients, and the overhead of the server at p50 with 1 client (target: at most 20%). Every request
is checked to return the anchor's top-1 class. Bounded: ``--requests`` per client, a timeout on each.

Run: ``python benchmarks/bench_serve.py [--requests 30]``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import pathlib
import statistics
import subprocess
import sys
import time

from common import print_table, write_result

MODEL = "efficientnet_lite0"
PHOTO = "imagenet_13_471.jpg"  # ImageNet class 471, cannon
START_SECONDS = 180


def photo_path() -> pathlib.Path:
    spec = importlib.util.find_spec("foolbox")
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "data" / PHOTO


def start_server() -> tuple[subprocess.Popen, str]:
    """``hub serve --port 0`` in a subprocess; returns it and the URL it prints."""
    process = subprocess.Popen([sys.executable, "-m", "hub_core.cli", "serve", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "listening on " in line:
            return process, line.split("listening on ", 1)[1].split()[0]
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit("hub serve did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    import httpx

    from hub_core.training.predict import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="requests per client (default 30)")
    args = parser.parse_args()
    image = photo_path()
    data = image.read_bytes()
    process, url = start_server()
    try:
        predictor = Predictor(MODEL)
        expected = predictor(str(image))[0]
        engine = expected["engine"]

        def request(client) -> float:
            start = time.perf_counter()
            response = client.post(url + "api/predict", data={"model": MODEL},
                                   files={"image": (image.name, data, "image/jpeg")}, timeout=120)
            elapsed = time.perf_counter() - start
            result = response.json()
            assert response.status_code == 200 and result["index"] == expected["index"], response.text
            assert result["engine"] == engine, (result["engine"], engine)
            return elapsed

        def anchor() -> float:
            start = time.perf_counter()
            assert predictor(str(image))[0]["index"] == expected["index"]
            return time.perf_counter() - start

        with httpx.Client() as client:
            for _ in range(3):  # the server loads the model and chooses its engine on the first request
                request(client)
                anchor()
            served, in_process = [], []
            for _ in range(args.requests):  # interleaved: the same noise for both
                served.append(request(client))
                in_process.append(anchor())

        def client_loop(_) -> list[float]:
            with httpx.Client() as client:
                return [request(client) for _ in range(args.requests)]

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            four = [t for times in pool.map(client_loop, range(4)) for t in times]
        four_wall = time.perf_counter() - start
        fresh = [time.perf_counter()]
        for _ in range(2):
            import hub_core as hub

            hub.predict(MODEL, str(image))
            fresh.append(time.perf_counter())
        per_call = statistics.median(b - a for a, b in zip(fresh, fresh[1:]))
    finally:
        process.terminate()
        process.wait(timeout=30)

    ms = 1000.0
    rows = [
        {"path": "in-process Predictor (anchor)", "clients": 1, "p50_ms": percentile(in_process, 50) * ms,
         "p95_ms": percentile(in_process, 95) * ms, "req_per_s": 1 / statistics.mean(in_process)},
        {"path": "hub serve /api/predict", "clients": 1, "p50_ms": percentile(served, 50) * ms,
         "p95_ms": percentile(served, 95) * ms, "req_per_s": 1 / statistics.mean(served)},
        {"path": "hub serve /api/predict", "clients": 4, "p50_ms": percentile(four, 50) * ms,
         "p95_ms": percentile(four, 95) * ms, "req_per_s": len(four) / four_wall},
        {"path": "hub.predict(name, file) per call", "clients": 1, "p50_ms": per_call * ms, "p95_ms": "",
         "req_per_s": 1 / per_call},
    ]
    overhead = percentile(served, 50) / percentile(in_process, 50) - 1
    print(f"{MODEL} at 224x224, engine {engine}, {args.requests} requests per client; "
          "2 shared CPU cores (other jobs slow every row alike)")
    print_table(rows, ["path", "clients", "p50_ms", "p95_ms", "req_per_s"])
    print(f"overhead of hub serve at p50, 1 client: {overhead:+.1%} (target: at most +20%)")
    path = write_result("bench_serve", rows, model=MODEL, engine=engine, requests_per_client=args.requests,
                        overhead_p50_1_client=overhead, target_overhead=0.2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
