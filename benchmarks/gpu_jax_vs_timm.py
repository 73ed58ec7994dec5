"""GPU throughput: hub models on Keras 3 + JAX against timm (PyTorch eager and torch.compile).

For resnet50, vgg16 and inception_resnet_v2 at batch 128 in bfloat16, on one
GPU, it measures images/s of

* inference: the hub model built with ``include_preprocessing=True`` and
  ``precision="bfloat16"``, fed uint8 batches already on the device, through a
  jitted ``stateless_call``; timm's model (channels-last, bf16 autocast) fed the
  same uint8 batches with the same normalisation on the GPU, eager and compiled;
* a training step (SGD with momentum, cross-entropy on logits): a jitted step
  that donates the parameter, state and optimizer buffers, against timm's
  forward/backward/step, eager and with ``torch.compile``.

It runs where TensorFlow is absent (``KERAS_BACKEND=jax`` is set here) and
without installing hub_core: the repository root goes on ``sys.path``,
``plugins/`` is imported as ``hub_plugins`` and each plugin builds its model
as ``hub.load`` would (weights=None). It takes what is importable and prints
what is missing. Usage::

    KERAS_BACKEND=jax python benchmarks/gpu_jax_vs_timm.py --quick
    python benchmarks/gpu_jax_vs_timm.py --models resnet50 --batch 128 --steps 50

``--size`` shrinks the images and ``--batch``/``--steps`` the work, for a smoke
run on a CPU. Results go to ``benchmarks/results/gpu_jax_vs_timm.json``
(``--out``) and a table is printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import traceback

os.environ.setdefault("KERAS_BACKEND", "jax")

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Hub model name -> (plugin class, timm model name, default image size).
MODELS = {
    "resnet50": ("hub_plugins.resnet.plugin:ResNetPlugin", "resnet50", 224),
    "vgg16": ("hub_plugins.vgg16.plugin:VGG16Plugin", "vgg16", 224),
    "inception_resnet_v2": ("hub_plugins.inception_resnet_v2.plugin:InceptionResNetV2Plugin", "inception_resnet_v2", 299),
}
# Normalisation the timm side applies on the GPU (ImageNet mean/std, RGB).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
RESULTS = ROOT / "benchmarks" / "results" / "gpu_jax_vs_timm.json"


def import_repo() -> None:
    """Make ``hub_core`` and ``hub_plugins`` importable from the checkout (no install needed)."""
    sys.path.insert(0, str(ROOT))
    try:
        import hub_plugins  # noqa: F401 - installed: use it
    except ImportError:
        import plugins

        sys.modules["hub_plugins"] = plugins


def build_hub_model(name: str, **kwargs):
    """Build ``name`` through its plugin, as ``hub.load(name, weights=None, **kwargs)`` does."""
    module_name, class_name = MODELS[name][0].split(":")
    plugin = getattr(importlib.import_module(module_name), class_name)()
    return plugin.build(plugin.variant(name), weights=None, **kwargs)


def available() -> dict[str, str | None]:
    """Each package the script can use, mapped to its version or None when missing."""
    found = {}
    for module in ("jax", "keras", "hub_core", "hub_plugins", "torch", "timm"):
        try:
            found[module] = getattr(importlib.import_module(module), "__version__", "installed")
        except Exception as error:  # noqa: BLE001 - report any import failure by name
            found[module] = None
            print(f"missing: {module} ({type(error).__name__}: {error})", file=sys.stderr)
    return found


def timed(step, steps: int, warmup: int, sync) -> float:
    """Median seconds of one call of ``step`` over ``steps`` timed calls, split in 3 rounds."""
    for _ in range(warmup):
        sync(step())
    rounds = []
    per_round = max(1, steps // 3)
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(per_round):
            out = step()
        sync(out)
        rounds.append((time.perf_counter() - start) / per_round)
    return statistics.median(rounds)


def hub_jax(name: str, size: int, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Images/s of the hub model on JAX: jitted inference and a jitted, donating training step."""
    import functools

    import jax
    import keras
    import numpy as np

    model = build_hub_model(
        name,
        input_shape=(size, size, 3),
        include_preprocessing=True,
        precision="bfloat16",
        classifier_activation=None,
    )
    rng = np.random.default_rng(0)
    images = jax.device_put(rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8))
    labels = jax.device_put(rng.integers(0, 1000, (batch,), dtype=np.int32))
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def infer(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    def sync(out):
        jax.block_until_ready(out)

    result = {"infer": batch / timed(lambda: infer(trainable, non_trainable, images), steps, warmup, sync)}

    optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    opt_vars = [v.value for v in optimizer.variables]

    def loss_fn(trainable, non_trainable, x, y):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, keras.ops.cast(logits, "float32"), from_logits=True)
        return keras.ops.mean(loss), non_trainable

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def train_step(trainable, non_trainable, opt_vars, x, y):
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return trainable, non_trainable, opt_vars, loss

    state = [trainable, non_trainable, opt_vars]

    def step():
        state[0], state[1], state[2], loss = train_step(*state, images, labels)
        return loss

    result["train"] = batch / timed(step, steps, warmup, sync)
    return result


def timm_torch(name: str, size: int, batch: int, steps: int, warmup: int, compiled: bool) -> dict[str, float]:
    """Images/s of timm's model on the GPU in bf16 autocast, eager or with ``torch.compile``."""
    import timm
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = timm.create_model(MODELS[name][1], pretrained=False, num_classes=1000)
    model = model.to(device).to(memory_format=torch.channels_last)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
    images = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)

    def forward(net, x):
        x = x.permute(0, 3, 1, 2).float().sub(mean).div(std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device, dtype=torch.bfloat16):
            return net(x)

    def sync(_):
        if device == "cuda":
            torch.cuda.synchronize()

    net = torch.compile(model) if compiled else model
    model.eval()

    def infer():
        with torch.inference_mode():
            return forward(net, images)

    result = {"infer": batch / timed(infer, steps, warmup, sync)}
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    train_net = torch.compile(model) if compiled else model

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(train_net, images).float(), labels)
        loss.backward()
        optimizer.step()
        return loss

    result["train"] = batch / timed(train, steps, warmup, sync)
    return result


def run_side(label: str, results: dict, key: str, fn, *args) -> None:
    """Run one measurement, recording its numbers or its error without stopping the script."""
    print(f"... {key} {label}", flush=True)
    try:
        results[key][label] = fn(*args)
    except Exception as error:  # noqa: BLE001 - keep measuring the other sides
        traceback.print_exc(limit=3)
        results[key][label] = {"error": f"{type(error).__name__}: {error}"}


def print_table(results: dict) -> None:
    """Print images/s per model and side, with the hub's ratio to timm + torch.compile."""
    print(f"\n{'model':22s} {'side':18s} {'infer img/s':>12s} {'train img/s':>12s}")
    for model_name, sides in results.items():
        compiled = sides.get("timm_compile", {})
        for side, numbers in sides.items():
            if "error" in numbers:
                print(f"{model_name:22s} {side:18s} error: {numbers['error'][:60]}")
                continue
            print(f"{model_name:22s} {side:18s} {numbers['infer']:12.1f} {numbers['train']:12.1f}")
        hub_numbers = sides.get("hub_jax", {})
        if "infer" in hub_numbers and "infer" in compiled:
            print(
                f"{model_name:22s} {'hub / compile':18s} {hub_numbers['infer'] / compiled['infer']:11.2f}x "
                f"{hub_numbers['train'] / compiled['train']:11.2f}x"
            )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure every importable side and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed steps (warmup 3, steps 15)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="override every model's image size (smoke runs)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    steps = args.steps or (15 if args.quick else 60)
    warmup = args.warmup if args.warmup is not None else (3 if args.quick else 10)

    import_repo()
    found = available()
    have_hub = all(found[m] for m in ("jax", "keras", "hub_core", "hub_plugins"))
    have_timm = bool(found["torch"] and found["timm"])
    if have_hub:
        import jax

        device = str(jax.devices()[0])
    else:
        device = "unknown"
    names = [name for name in args.models.split(",") if name]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    results: dict[str, dict] = {}
    for name in names:
        size = args.size or MODELS[name][2]
        results[name] = {}
        if have_hub:
            run_side("hub_jax", results, name, hub_jax, name, size, args.batch, steps, warmup)
        if have_timm:
            run_side("timm_eager", results, name, timm_torch, name, size, args.batch, steps, warmup, False)
            if not args.no_compile:
                run_side("timm_compile", results, name, timm_torch, name, size, args.batch, steps, warmup, True)
    print_table(results)
    report = {
        "device": device,
        "platform": platform.platform(),
        "packages": found,
        "batch": args.batch,
        "steps": steps,
        "precision": "bfloat16",
        "tensorflow_imported": "tensorflow" in sys.modules,
        "results": results,
    }
    paths = [args.out] + ([pathlib.Path(os.environ["OUT"], args.out.name)] if os.environ.get("OUT") else [])
    for path in paths:  # $OUT is where the device machine's files come back from
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
