"""Weights store costs against plain anchors, over a local HTTP server.

1. Cold download of a 64 MiB file with ``weights.fetch_file`` (temp file,
   fsync, sha256 + md5, lock, record, rename) against ``urllib`` copying the
   same URL to a file with no verification.
2. A cache hit (sidecar record trusted while size and mtime are unchanged)
   against hashing the file, which is what a store without records would do.
3. Bytes sent for a download dropped at half way: resuming with ``Range``
   against the file size (a restart would send 1.5x).

Run: ``python benchmarks/bench_weights.py [--mib 64]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.request

from common import interleaved_times, print_table, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="size of the served file in MiB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        os.environ["HUB_CORE_HOME"] = str(scratch / "home")
        os.environ.pop("HUB_CORE_MIRROR", None)
        os.environ.pop("HUB_CORE_OFFLINE", None)
        from hub_core.store import cache
        from hub_core.store import download as weights
        from hub_core.hub.plugin import WeightFile
        from hub_core.testing.http_server import FileServer

        served = scratch / "served"
        served.mkdir()
        data = os.urandom(args.mib << 20)
        (served / "w.h5").write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        rows = []
        with FileServer(served) as server:
            weight_file = WeightFile(server.url("w.h5"), sha256=sha, size=len(data))

            def hub_download():
                cache.clear_cache()
                weights.fetch_file(weight_file, progress=False)

            def urllib_copy():
                with urllib.request.urlopen(server.url("w.h5")) as response, open(scratch / "plain.h5", "wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)

            times = interleaved_times({"hub": hub_download, "anchor": urllib_copy}, repeats=3)
            rows.append({"measure": f"cold download, {args.mib} MiB", "hub_s": times["hub"],
                         "anchor": "urllib copy, unverified", "anchor_s": times["anchor"],
                         "ratio": times["hub"] / times["anchor"]})

            cached = weights.fetch_file(weight_file, progress=False)
            times = interleaved_times({"hub": lambda: weights.fetch_file(weight_file, progress=False),
                                       "anchor": lambda: hashlib.sha256(cached.read_bytes()).hexdigest()}, repeats=5)
            rows.append({"measure": "cache hit", "hub_s": times["hub"], "anchor": "sha256 of the file",
                         "anchor_s": times["anchor"], "ratio": times["hub"] / times["anchor"]})

            cache.clear_cache()
            server.reset_log()
            server.fault("w.h5", "drop", times=1, keep=len(data) // 2)
            weights.fetch_file(weight_file, progress=False)
            sent = sum(r.sent for r in server.requests)
            rows.append({"measure": "bytes sent, dropped at 50%", "hub_s": None, "anchor": "file size",
                         "anchor_s": None, "ratio": sent / len(data)})
    print_table(rows, ["measure", "hub_s", "anchor", "anchor_s", "ratio"])
    print(f"wrote {write_result('bench_weights', rows, mib=args.mib)}")


if __name__ == "__main__":
    main()
