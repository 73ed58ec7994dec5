"""``hub publish`` time and wheel size for a resnet20 run and a vgg16 run (issue 16).

Two tiny runs on the demo digits (1 epoch each): ``resnet20`` trained from scratch at 32x32, and ``vgg16``
fine-tuned from the ``hed_bsds500`` conv weights (58.9 MB) at 64x64 with a frozen backbone. Each is published
``--repeats`` times; the anchor, measured in the same process and interleaved with it, is a bare setuptools
wheel (``python -m build --wheel --no-isolation``) of a package holding only the same ``.keras`` file: the
standard tooling's own cost, so the difference is what ``hub publish`` adds (checks, safe-mode load, card,
hashing). Sizes: the wheel against the run's ``.keras`` file and, for vgg16, the conv weights it started from.

Usage: ``python benchmarks/bench_publish.py [--repeats N] [--work DIR]``.
Writes ``benchmarks/results/bench_publish.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import interleaved_times, print_table, write_result  # noqa: E402


def make_runs(work: pathlib.Path) -> dict[str, pathlib.Path]:
    """The resnet20 and vgg16 runs (made once; reused when ``work`` already holds them)."""
    import hub_core as hub
    from hub_core import data
    from hub_core.demo import write_digits

    train_dir, _ = write_digits(work / "digits", per_class=8)
    runs = {"resnet20": work / "resnet20", "vgg16": work / "vgg16"}
    if not (runs["resnet20"] / "model.keras").exists():
        train, val = data.image_folder(train_dir, model="resnet20", batch_size=16, validation_split=0.25, seed=0)
        hub.train("resnet20", train, val, epochs=1, run_dir=runs["resnet20"], verbose=0)
    if not (runs["vgg16"] / "model.keras").exists():
        train, val = data.image_folder(train_dir, model="vgg16", image_size=(64, 64), batch_size=16,
                                       validation_split=0.25, seed=0)
        hub.fine_tune("vgg16", train, val, epochs=1, strategy="head", weights="hed_bsds500",
                      run_dir=runs["vgg16"], verbose=0)
    return runs


def bare_wheel(model_file: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """The anchor: a setuptools wheel of a package that holds only ``model_file``."""
    from hub_core.publish import package

    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "bare"
        (source / "bare_weights").mkdir(parents=True)
        (source / "bare_weights" / "__init__.py").write_text("")
        shutil.copyfile(model_file, source / "bare_weights" / model_file.name)
        (source / "pyproject.toml").write_text(package._PYPROJECT)
        (source / "setup.cfg").write_text("[metadata]\nname = bare-weights\nversion = 0.1.0\n\n[options]\n"
                                          "packages = bare_weights\n\n[options.package_data]\nbare_weights = *.keras\n")
        return package._build(source, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", default=None, help="folder for the runs and wheels (default: a temporary one)")
    args = parser.parse_args()

    import hub_core as hub
    from hub_plugins.vgg16.weights import HED_SIZE

    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="bench-publish-"))
    runs = make_runs(work)
    rows = []
    for name, run_dir in runs.items():
        model_file = run_dir / ("best.keras" if (run_dir / "best.keras").exists() else "model.keras")
        out = work / "dist" / name
        wheels = {}

        def publish(name=name, run_dir=run_dir, out=out):
            wheels["publish"] = hub.publish(run_dir, f"bench-{name}", license="MIT", out=out)

        def anchor(model_file=model_file, out=out):
            wheels["anchor"] = bare_wheel(model_file, out / "bare")

        times = interleaved_times({"publish": publish, "anchor": anchor}, repeats=args.repeats, warmup=0,
                                  stat=statistics.median)
        row = {"run": name, "publish_s": times["publish"], "bare_wheel_s": times["anchor"],
               "overhead_s": times["publish"] - times["anchor"],
               "keras_MB": model_file.stat().st_size / 1e6, "wheel_MB": wheels["publish"].stat().st_size / 1e6,
               "bare_wheel_MB": wheels["anchor"].stat().st_size / 1e6}
        row["wheel/keras"] = row["wheel_MB"] / row["keras_MB"]
        if name == "vgg16":
            row["base_weights_MB"] = HED_SIZE / 1e6
        rows.append(row)
    print_table(rows, ["run", "publish_s", "bare_wheel_s", "overhead_s", "keras_MB", "wheel_MB", "bare_wheel_MB",
                       "wheel/keras", "base_weights_MB"])
    path = write_result("bench_publish", rows, repeats=args.repeats,
                        note="2 shared CPU cores, other jobs running: times are slowed by them")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
