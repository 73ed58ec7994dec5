"""hub.sweep on the demo's real images: the best trial against the defaults, the pruner's saving, 2 workers against 1.

The demo's set-up (scikit-learn's handwritten digits as PNG files, EfficientNet-Lite0 with its ImageNet weights at
64x64), 12 trials of the default fine-tuning space (learning rate, strategy head or two_phase, unfreeze, label
smoothing); the trials of a sweep share its feature cache. Three sweeps of the same study settings in the same
process:

* no pruner, 1 worker (the reference);
* the median pruner, 1 worker: wall time against the reference, at the best held-out accuracy;
* no pruner, 2 worker processes: wall time against the reference.

The best trial of the reference sweep is evaluated on the held-out folder, against ``hub.fine_tune`` with its
default settings for the same epochs.

Usage: python benchmarks/bench_sweep.py [--trials 12] [--epochs 4] [--per-class 40]
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import tempfile
import time

from common import print_table, write_result

import hub_core as hub
from hub_core.demo import IMAGE_SIZE, MODEL, WEIGHTS, write_digits
from hub_core.training.search_space import default_space


def epochs_trained(result) -> int:
    """Epochs the sweep's trials trained (the work the pruner saves, whatever the machine's load)."""
    from hub_core.training import runs

    return sum(len((runs.read_json(pathlib.Path(t["run_dir"]) / runs.METRICS, {}) or {}).get("history", {}).get(
        result.metric, [])) for t in result.trials if t["run_dir"] and t["state"] in ("complete", "pruned"))


def held_out_accuracy(run_dir: pathlib.Path, test_dir: pathlib.Path) -> float:
    model = hub.load(run_dir)
    test = hub.data.image_folder(test_dir, model=model, batch_size=64, shuffle=False, class_names=model.class_names)
    return float(hub.evaluate(model, test)["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=40, help="digits per class (None: all ~180)")
    args = parser.parse_args()

    root = pathlib.Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        train_dir, test_dir = write_digits(root / "digits", per_class=args.per_class)
        common = dict(trials=args.trials, epochs=args.epochs, weights=WEIGHTS, metric="val_accuracy",
                      image_size=(IMAGE_SIZE, IMAGE_SIZE), verbose=0)
        rows, sweeps = [], {}
        for name, pruner, workers in (("no pruner, 1 worker", "none", 1), ("median pruner, 1 worker", "median", 1),
                                      ("no pruner, 2 workers", "none", 2)):
            started = time.perf_counter()
            # 15% of the training folder validates each trial, as in the demo; the test folder is held out
            result = hub.sweep(MODEL, str(train_dir), 0.15, sweep_dir=root / name.replace(" ", "_").replace(",", ""),
                               pruner=pruner, workers=workers, **common)
            wall = time.perf_counter() - started
            sweeps[name] = result
            states = [t["state"] for t in result.trials]
            seconds = {state: [t["seconds"] for t in result.trials if t["state"] == state] for state in ("complete", "pruned")}
            rows.append({"run": name, "wall_s": round(wall, 1), "complete": states.count("complete"),
                         "pruned": states.count("pruned"), "epochs_trained": epochs_trained(result),
                         "complete_trial_s": round(sum(seconds["complete"]) / max(1, len(seconds["complete"])), 1),
                         "pruned_trial_s": round(sum(seconds["pruned"]) / len(seconds["pruned"]), 1) if seconds["pruned"] else None,
                         "best_val_accuracy": round(result.best_value, 4),
                         "held_out_accuracy": round(held_out_accuracy(result.best_run_dir, test_dir), 4),
                         "best_params": result.best_params})
        started = time.perf_counter()
        train, validation = hub.data.image_folder(train_dir, image_size=(IMAGE_SIZE, IMAGE_SIZE), batch_size=32,
                                                  validation_split=0.15, seed=0)
        defaults = hub.fine_tune(MODEL, train, validation, weights=WEIGHTS, epochs=args.epochs, run_dir=root / "defaults",
                                 verbose=0)
        rows.append({"run": "hub.fine_tune defaults (two_phase, lr 1e-3)", "wall_s": round(time.perf_counter() - started, 1),
                     "best_val_accuracy": round(max(defaults.history["val_accuracy"]), 4),
                     "held_out_accuracy": round(held_out_accuracy(defaults.run_dir, test_dir), 4)})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    reference, pruned, two = rows[0], rows[1], rows[2]
    figures = {
        "pruner_speedup": round(reference["wall_s"] / pruned["wall_s"], 2),
        "pruner_epochs_ratio": round(reference["epochs_trained"] / pruned["epochs_trained"], 2),
        "pruner_best_held_out_delta": round(pruned["held_out_accuracy"] - reference["held_out_accuracy"], 4),
        "two_workers_speedup": round(reference["wall_s"] / two["wall_s"], 2),
        "best_minus_defaults_held_out": round(reference["held_out_accuracy"] - rows[3]["held_out_accuracy"], 4),
    }
    print_table(rows, ["run", "wall_s", "complete", "pruned", "epochs_trained", "complete_trial_s", "pruned_trial_s", "best_val_accuracy",
                       "held_out_accuracy"])
    print()
    print_table([figures])
    path = write_result("bench_sweep", rows, figures=figures, model=MODEL, weights=WEIGHTS, image_size=IMAGE_SIZE,
                        trials=args.trials, epochs=args.epochs, per_class=args.per_class,
                        space={n: p.spec() for n, p in default_space(MODEL, epochs=args.epochs).items()},
                        optuna=__import__("optuna").__version__)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
