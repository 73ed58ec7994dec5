"""The ``hub`` command: listing, info, plugins, help, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hub_core.cli import build_parser

HUB = [sys.executable, "-m", "hub_core.cli"]


def hub(*args, env=None):
    return subprocess.run([*HUB, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


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
    code = "import sys; from hub_core.cli import main; main(['list']); print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'light', file=sys.stderr)"
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
