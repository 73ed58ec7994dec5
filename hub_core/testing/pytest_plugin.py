"""The conformance kit's pytest plugin (entry point ``pytest11``): registers the markers the kit uses.

A plugin's own repository can then run ``pytest --strict-markers`` over
:func:`hub_core.testing.parametrize_checks` without declaring them itself.
"""


def pytest_configure(config) -> None:
    """Register the ``slow`` marker that the kit puts on full-size checks."""
    config.addinivalue_line("markers", "slow: full-size builds and longer runs (the conformance kit marks its own)")
