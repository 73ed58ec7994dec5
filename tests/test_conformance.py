"""Every built-in plugin and the third-party fixture pass the conformance kit."""

from __future__ import annotations

from hub_core import testing

from hub_core.hub import registry

PLUGINS = sorted(
    name for name, reg in registry.registrations().items()
    if reg.value.startswith("hub_plugins.") or reg.distribution == "hub-sample-plugin"
)


@testing.parametrize_checks(PLUGINS, variants="default")
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
