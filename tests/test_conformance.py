"""Every variant of every built-in plugin and of the third-party fixture passes the conformance kit."""

from __future__ import annotations

import subprocess
import sys

from hub_core import testing

from hub_core.hub import catalog, registry

# From the catalog: the built-ins registry.json lists, and the fixture distribution's plugins.
PLUGINS = sorted(catalog.builtin()["plugins"]) + sorted(
    name for name, reg in registry.registrations().items() if reg.distribution == "hub-sample-plugin"
)


@testing.parametrize_checks(PLUGINS, variants="all")
def test_conformance(plugin_name, variant_name, check):
    check(plugin_name, variant_name)


def test_check_plugin_reports_every_failure():
    import pytest

    from hub_core.hub.plugin import Variant

    plugin = registry.get_plugin("tiny_convnet")
    wrong = type(plugin)()
    wrong.variants = (Variant(name="tiny_convnet", input_shape=(32, 32, 3), num_params=1, description="wrong count"),)
    wrong.paper = None
    with pytest.raises(AssertionError) as error:
        testing.check_plugin(wrong, include_slow=True)
    message = str(error.value)
    assert "check_metadata" in message and "cite its `paper`" in message
    assert "check_default_build[tiny_convnet]" in message and "metadata says 1" in message


def test_a_plugin_repository_runs_the_kit_with_strict_markers(tmp_path):
    (tmp_path / "test_my_plugin.py").write_text(
        "from hub_core import testing\n\n"
        "@testing.parametrize_checks(['tiny_convnet'])\n"
        "def test_conformance(plugin_name, variant_name, check):\n"
        "    check(plugin_name, variant_name)\n"
    )
    result = subprocess.run([sys.executable, "-m", "pytest", "--strict-markers", "--collect-only", "-q", "-p",
                             "no:cacheprovider", str(tmp_path)], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "check_default_build" in result.stdout  # the slow check is collected, marked slow
