"""`hub demo` (the README's first command) and the training CLI, end to end on real digit scans."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from hub_core.cli.main import main
from hub_core.demo import write_digits


def test_hub_demo_quick_runs_offline_and_writes_outputs(tmp_path):
    env = dict(os.environ, HUB_CORE_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "hub_core.cli", "demo", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "[1/5] found" in out and "efficientnet_lite0" in out
    assert "fine-tuning efficientnet_lite0 from weights 'imagenet' at 64x64" in out
    accuracy = float(re.search(r"held-out accuracy ([0-9.]+)", out).group(1))
    assert 0.0 <= accuracy <= 1.0
    assert out.count("predicted") == 5
    run_dir = tmp_path / "run"
    for name in ("best.keras", "model.keras", "metrics.json", "curves.png", "class_names.json"):
        assert (run_dir / name).is_file(), name
    assert len(list((tmp_path / "digits" / "train").rglob("*.png"))) == 320
    assert str(run_dir) in out


def test_cli_fine_tune_then_evaluate(tmp_path, capsys):
    train_dir, test_dir = write_digits(tmp_path / "digits", per_class=10)
    code = main(["fine-tune", "tiny_convnet", "--data", str(train_dir),
                 "--val-split", "0.25", "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "run directory" in out and "val_accuracy" in out
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(test_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_examples"] == 20 and len(report["confusion_matrix"]) == 10
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
