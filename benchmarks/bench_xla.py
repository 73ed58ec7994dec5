"""XLA on CPU: training-step throughput with ``jit_compile`` on and off, interleaved in one process.

For resnet20 (32x32), the captcha net (28x280), wide_deep (the paper's
1024-512-256 MLP over the conformance kit's mixed columns) and nin (32x32):
two copies of each model from the same seed, one compiled with
``jit_compile=True`` and one with False, each warmed up (the first step
traces and, with XLA, compiles: its time is reported apart), then timed in
turns, A B A B, so that the noise of a shared machine falls on both. A model
with a layer XLA cannot compile (Keras then proceeds without it) is reported
as such: wide_deep, whose lookup and hashing layers XLA cannot compile, is also
timed as its trainable core alone (``wide_deep_core``). The verdict per kind of model is ``JIT_COMPILE_AUTO`` in
``hub_core/training/options.py``.

Usage::

    python benchmarks/bench_xla.py [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import interleaved_times, print_table, write_result  # noqa: E402

MODELS = {"resnet20": 32, "captcha_inverted10": 32, "wide_deep": 256, "nin_cifar": 32}  # name: batch size
WIDE_DEEP_CORE = "wide_deep_core"  # wide_deep's trainable part alone, on encoded features


def compiled_pair(name: str, batch_size: int):
    """``({True: model, False: model}, inputs, targets, task)`` for the catalog model ``name``."""
    import keras

    from hub_core.hub import catalog, registry

    plugin_name, variant_name = catalog.resolve(name)
    plugin = registry.get_plugin(plugin_name)
    variant = plugin.variant(variant_name)
    batch = plugin.sample_batch(variant, small=False, batch_size=batch_size)
    models = {}
    for jit in (True, False):
        keras.utils.set_random_seed(0)
        model = plugin.build(variant, weights=None, **batch.build_kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Model doesn't support jit_compile=True": reported below
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=batch.loss, jit_compile=jit)
        models[jit] = model
    return models, batch.inputs, batch.targets, plugin.task


def wide_deep_core_pair(batch_size: int):
    """The same for wide_deep's trainable ``core`` (linear part and MLP) alone, on already encoded features.

    The whole model cannot be XLA-compiled (its lookup and hashing layers do not support it), so this is the
    part XLA could speed up.
    """
    import keras

    models, inputs, targets, task = compiled_pair("wide_deep", batch_size)
    full = models[False]
    node = full.get_layer("core")._inbound_nodes[0]
    encoded = keras.Model(full.inputs, node.arguments.args[0]).predict(inputs, verbose=0)
    cores = {}
    for jit in (True, False):
        keras.utils.set_random_seed(0)
        core = keras.models.clone_model(full.get_layer("core"))
        core.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=jit)
        cores[jit] = core
    return cores, encoded, targets, task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed sample")
    parser.add_argument("--repeats", type=int, default=3, help="timed samples per setting")
    parser.add_argument("--models", nargs="*", default=[*MODELS, WIDE_DEEP_CORE])
    args = parser.parse_args()
    rows = []
    for name in args.models:
        batch_size = MODELS["wide_deep" if name == WIDE_DEEP_CORE else name]
        if name == WIDE_DEEP_CORE:
            models, inputs, targets, task = wide_deep_core_pair(batch_size)
        else:
            models, inputs, targets, task = compiled_pair(name, batch_size)
        first = {}
        for jit, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(inputs, targets)
            first[jit] = time.perf_counter() - start

        def steps(model):
            return lambda: [model.train_on_batch(inputs, targets) for _ in range(args.steps)]

        times = interleaved_times({"xla": steps(models[True]), "no_xla": steps(models[False])},
                                  repeats=args.repeats, warmup=1)
        xla_ok = bool(models[True].jit_compile)
        per_second = {key: args.steps * batch_size / value for key, value in times.items()}
        rows.append({
            "model": name, "task": task, "batch": batch_size,
            "xla_examples_per_s": per_second["xla"] if xla_ok else None,
            "no_xla_examples_per_s": per_second["no_xla"],
            "speedup": per_second["xla"] / per_second["no_xla"] if xla_ok else None,
            "xla_first_step_s": first[True] if xla_ok else None, "no_xla_first_step_s": first[False],
            "xla": "compiled" if xla_ok else "not compilable (a layer does not support XLA)",
        })
        print(f"{name}: done", file=sys.stderr)
    print(f"Training-step throughput, XLA on vs off ({args.steps} steps x {args.repeats} interleaved samples, "
          "median; a shared 2-core CPU)")
    shown = [{key: "n/a" if value is None else value for key, value in row.items()} for row in rows]
    print_table(shown, ["model", "task", "batch", "xla_examples_per_s", "no_xla_examples_per_s", "speedup",
                       "xla_first_step_s", "no_xla_first_step_s", "xla"])
    path = write_result("bench_xla", rows, steps=args.steps, repeats=args.repeats)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
