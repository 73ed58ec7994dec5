"""Weights store costs against plain anchors, over a local HTTP server.

1. Cold download of a 64 MiB file with ``weights.fetch_file`` (temp file,
   fsync, sha256 + md5, lock, record, rename) against ``urllib`` copying the
   same URL to a file with no verification.
2. A cache hit (sidecar record trusted while size and mtime are unchanged)
   against hashing the file, which is what a store without records would do.
3. Bytes sent for a download dropped at half way: resuming with ``Range``
   against the file size (a restart would send 1.5x).
4. Reading vgg16's 528 MiB legacy h5 from the cache (in the page cache) with
   ``read_weights``, whose file checks (``check_hdf5``: links, external
   storage, references, declared sizes) run first, against the same read with
   the checks switched off. Target: at most 1.05. No published vgg16 file is
   available offline, so the file is ``keras.applications.VGG16(weights=None)``
   (random weights) written in the keras-applications legacy layout.

Run: ``python benchmarks/bench_weights.py [--mib 64] [--checks-only]``
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
    parser.add_argument("--checks-only", action="store_true", help="only measure the reader's file checks (4.)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        rows.extend(_reader_checks_rows(pathlib.Path(scratch)))
    if not args.checks_only:
        rows[:0] = _store_rows(args.mib)
    print_table(rows, ["measure", "hub_s", "anchor", "anchor_s", "ratio"])
    print(f"wrote {write_result('bench_weights', rows, mib=args.mib)}")


def _vgg16_legacy_h5(path: pathlib.Path) -> pathlib.Path:
    """VGG16 with random weights, in the keras-applications h5 layout (``layer_names``, ``weight_names``)."""
    import h5py
    import keras

    model = keras.applications.VGG16(weights=None)
    layers = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.name.encode() for layer in layers]
        for layer in layers:
            group = handle.create_group(layer.name)
            names = [f"{layer.name}/{weight.name}:0" for weight in layer.weights]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, weight in zip(names, layer.weights):
                group[name] = keras.ops.convert_to_numpy(weight)
    return path


def _reader_checks_rows(scratch: pathlib.Path) -> list[dict]:
    import h5py

    from hub_core.store.readers import hdf5

    path = _vgg16_legacy_h5(scratch / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    checked = hdf5.check_hdf5

    def unchecked():
        hdf5.check_hdf5 = lambda *args: None
        try:
            hdf5.read_weights(path)
        finally:
            hdf5.check_hdf5 = checked

    def checks_alone():
        with h5py.File(path, "r") as handle:
            checked(handle, path, path.stat().st_size)

    # min: on a shared machine noise only ever adds time
    times = interleaved_times({"hub": lambda: hdf5.read_weights(path), "anchor": unchecked, "checks": checks_alone},
                              repeats=15, stat=min)
    measure = f"vgg16 h5 read, {path.stat().st_size >> 20} MiB in page cache"
    return [{"measure": measure, "hub_s": times["hub"], "anchor": "same read, checks off", "anchor_s": times["anchor"],
             "ratio": times["hub"] / times["anchor"]},
            {"measure": "open + check_hdf5 alone", "hub_s": times["checks"], "anchor": "read, checks off",
             "anchor_s": times["anchor"], "ratio": times["checks"] / times["anchor"]}]


def _store_rows(mib: int) -> list[dict]:
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
        data = os.urandom(mib << 20)
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
            rows.append({"measure": f"cold download, {mib} MiB", "hub_s": times["hub"],
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
    return rows


if __name__ == "__main__":
    main()
