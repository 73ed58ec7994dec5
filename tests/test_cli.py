"""The ``hub`` command: listing, info, plugins, help, one-line errors, and commands and functions added by distributions."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import textwrap

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
    assert {"list", "info", "plugins", "download", "cache", "predict", "fine-tune", "demo",
            "stylize", "train-style", "tiny-hello", "tiny-broken"} <= set(subcommands)
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


# --- commands and functions added by distributions (hub_core.commands, hub_core.functions) ---------------------
def test_a_distribution_adds_a_command_and_a_function():
    result = hub("tiny-hello", "Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, Ada, from hub-sample-plugin.\n" and result.stderr == ""
    code = "import hub_core as hub; print(hub.tiny_hello('Grace')); print(hub.tiny_hello is hub.tiny_hello)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines() == ["Hello, Grace, from hub-sample-plugin.", "True"], done.stderr


def test_a_command_whose_module_fails_to_import_is_one_line_and_breaks_nothing_else():
    result = hub("tiny-broken", "some", "--argument")
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "hub: error: 'tiny-broken' from hub-broken-plugin (hub_broken_plugin.broken_command:register) could not be "
        "imported: ImportError: this command needs the package 'missing_dependency', which is not installed; "
        "fix or reinstall hub-broken-plugin."
    ]
    not_a_register_function = hub("tiny-not-a-command")
    assert not_a_register_function.returncode == 1 and not_a_register_function.stderr.splitlines() == [
        "hub: error: hub-broken-plugin's register function hub_broken_plugin.not_a_command:make_command failed: "
        "TypeError: make_command() takes 0 positional arguments but 1 was given; fix or reinstall hub-broken-plugin."
    ]
    listing = hub("--help")
    assert listing.returncode == 0 and listing.stderr == ""
    assert "tiny-hello" in listing.stdout and "train-style" in listing.stdout
    assert "(unavailable) 'tiny-broken' from hub-broken-plugin" in " ".join(listing.stdout.split())
    assert hub("list", "tiny*").returncode == 0
    broken = subprocess.run([sys.executable, "-c", "import hub_core as hub; hub.tiny_broken"], capture_output=True,
                            text=True, timeout=120)
    assert broken.returncode == 1 and "PluginError: 'tiny_broken' from hub-broken-plugin" in broken.stderr


def _extension_modules() -> set[str]:
    """The modules named by every installed command and function entry point."""
    return {entry_point.module for group in ("hub_core.commands", "hub_core.functions")
            for entry_point in metadata.entry_points(group=group)}


@pytest.mark.parametrize("argv", [["list"], ["info", "tiny_convnet"], ["plugins"], ["list", "--help"]])
def test_catalog_commands_import_no_plugin_command_and_no_tensorflow(argv):
    modules = _extension_modules()
    assert {"hub_sample_plugin.hello", "hub_broken_plugin.broken_command", "hub_plugins.fast_style.cli"} <= modules
    code = textwrap.dedent(f"""
        import json, sys
        from hub_core.cli.main import main
        try:
            main({argv!r})
        except SystemExit:
            pass
        heavy = [name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras")]
        print(json.dumps({{"heavy": heavy, "modules": [name for name in sys.modules if name in {sorted(modules)!r}]}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"heavy": [], "modules": []}


CLASH_MODULE = "raise ImportError('a refused command or function must never be imported')\n"
CLASH_ENTRY_POINTS = """\
[hub_core.commands]
list = hub_clash_plugin:register
tiny-hello = hub_clash_plugin:register

[hub_core.functions]
load = hub_clash_plugin:load
tiny_hello = hub_clash_plugin:tiny_hello
"""


@pytest.fixture
def clash_plugin(tmp_path):
    """``PYTHONPATH`` holding a distribution that offers a core command, a core function and the sample plugin's names.

    It is laid out as pip installs one (a ``.dist-info`` folder beside its
    module), on a path only this test's subprocesses see.
    """
    info = tmp_path / "hub_clash_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-clash-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(CLASH_ENTRY_POINTS)
    (tmp_path / "hub_clash_plugin.py").write_text(CLASH_MODULE)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}


def test_clashing_command_names_are_refused_and_the_rest_works(clash_plugin):
    result = hub("list", "tiny*", env=clash_plugin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("tiny_convnet ")  # the core's 'hub list' runs
    assert result.stderr.splitlines() == [
        "hub: warning: The command 'list' of hub-clash-plugin is left out because hub-core has its own 'hub list'; "
        "ask hub-clash-plugin to rename it.",
        "hub: warning: The command 'tiny-hello' is offered by both hub-clash-plugin and hub-sample-plugin, so neither "
        "is used; uninstall one of them or ask one to rename its command.",
    ]
    refused = hub("tiny-hello", "Ada", env=clash_plugin)
    assert refused.returncode == 2 and "invalid choice: 'tiny-hello'" in refused.stderr
    assert hub("tiny-broken", env=clash_plugin).returncode == 1  # other distributions' commands are untouched


def test_clashing_function_names_are_one_sentence_and_core_names_win(clash_plugin):
    code = textwrap.dedent("""
        import hub_core as hub
        from hub_core.errors import PluginConflictError
        assert hub.load.__module__ == "hub_core.api"
        try:
            hub.tiny_hello
        except PluginConflictError as error:
            print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **clash_plugin})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "The function 'tiny_hello' is offered by both hub-clash-plugin and hub-sample-plugin, so neither is used; "
        "uninstall one of them or ask one to rename its function."
    )
