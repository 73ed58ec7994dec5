"""The ``hub`` command: listing, info, plugins, help, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hub_core.cli.main import build_parser

HUB = [sys.executable, "-m", "hub_core.cli"]


def hub(*args, env=None):
    # A user's environment: without the TF_CPP_MIN_LOG_LEVEL that importing TensorFlow puts into this process's.
    base = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([*HUB, *args], capture_output=True, text=True, timeout=300, env={**base, **(env or {})})


def test_list_json_and_table():
    result = hub("list", "tiny*", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["tiny_convnet", "tiny_convnet_wide"]
    assert rows[0]["distribution"] == "hub-sample-plugin"
    table = hub("list", "resnet*").stdout.splitlines()
    assert table[0].split() == ["MODEL", "PLUGIN", "TASK", "PARAMS", "WEIGHTS"]
    assert any(line.startswith("resnet50 ") and "25,636,712" in line for line in table)


def test_list_does_not_import_tensorflow():
    code = "import sys; from hub_core.cli.main import main; main(['list']); print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'light', file=sys.stderr)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip().endswith("light"), result.stderr


def test_info_shows_weights_and_paper():
    result = hub("info", "vgg16")
    assert result.returncode == 0, result.stderr
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in result.stdout
    assert "Very Deep Convolutional Networks" in result.stdout
    data = json.loads(hub("info", "resnet50", "--json").stdout)
    assert data["plugin"] == "resnet" and data["distribution"] == "hub-core"


def test_plugins_lists_broken_ones_with_reason():
    result = hub("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["broken_import"]["status"] == "broken" and "missing_dependency" in rows["broken_import"]["reason"]
    assert rows["tiny_convnet"]["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("info", "resnt50"), "hub: error: Unknown model 'resnt50'. Did you mean: resnet50"),
        (("info", "broken_import"), "hub: error: Could not import plugin 'broken_import'"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message):
    result = hub(*args)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_overlay_is_one_line(tmp_path):
    bad = tmp_path / "org.json"
    bad.write_text("[]")
    result = hub("list", env={"HUB_CORE_REGISTRY": str(bad)})
    assert result.returncode == 1 and "has no 'plugins' object" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_subcommand_has_help():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    assert {"list", "info", "plugins", "download", "cache", "predict", "fine-tune", "demo"} <= set(subcommands)
    for name in subcommands:
        result = hub(name, "--help")
        assert result.returncode == 0 and "usage: hub" in result.stdout, name


def test_optimizer_the_models_plugin_does_not_offer_is_one_clear_line(tmp_path):
    run = tmp_path / "run"
    result = hub("train", "resnet20", "--data", str(tmp_path / "absent"), "--out", str(run), "--optimizer", "split")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = result.stderr.splitlines()  # TensorFlow's native start-up lines are discarded
    assert len(errors) == 1, result.stderr
    line = errors[0]
    assert line.startswith("hub: error: Optimizer 'split' is neither an optimizer of plugin 'resnet' (model resnet20)")
    assert "offered for wide_deep (plugin wide_deep)" in line and "such as 'adam'" in line
    assert not run.exists()  # refused before reading data or creating the run directory


def test_commands_that_import_tensorflow_still_fail_in_one_line(tmp_path):
    broken = tmp_path / "photo.jpg"
    broken.write_text("not an image")
    result = hub("predict", "resnet20", str(broken))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"hub: error: Image {broken} is not an image format PIL can read; pass a JPEG, PNG, BMP, GIF, TIFF or WebP file."
    ]
    verbose = hub("predict", "resnet20", str(broken), env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert len(verbose.stderr.splitlines()) > 1  # asked-for logs are not hidden
