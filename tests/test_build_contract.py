"""The build contract: every keyword argument a hub path passes to ``build`` is one the README documents."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import hub_core as hub
from test_preprocessing_contract import digits_plugin  # noqa: F401  (the fixture)

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
# The Digits plugin of test_preprocessing_contract, its build wrapped to record the keyword arguments it gets.
RECORDING = """
    import {module} as base

    CALLS = []


    class Recording(base.Digits):
        def build(self, variant, *, weights=None, **kwargs):
            CALLS.append(sorted(kwargs))
            classes = kwargs.pop("num_classes", None) or kwargs.pop("classes", 10)
            for ignored in ("precision", "include_top", "pooling"):
                kwargs.pop(ignored, None)
            return super().build(variant, weights=weights, classes=classes, **kwargs)
"""


def documented_arguments() -> set[str]:
    """The backticked names in the README's table of what the hub passes to ``build``."""
    text = README.read_text()
    section = text[text.index("### What the hub passes to `build`"):text.index("What the arguments mean")]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| ") and "caller" not in line)
    spans = re.findall(r"`([^`]+)`", table)
    return {part.split("=")[0].strip() for span in spans for part in span.split(",")}


@pytest.mark.parametrize("capability", ["", '"preprocessing"'])
def test_every_argument_the_hub_passes_to_build_is_documented(digits_plugin, capability, monkeypatch):  # noqa: F811
    import importlib
    import sys
    import textwrap

    from hub_core.hub import registry

    name = f"digits_recorded{'_capable' if capability else ''}"
    roots = digits_plugin(name, capabilities=capability, rescaling="include_preprocessing",
                          declaration=', preprocessing="unit"')
    module = pathlib.Path(roots[-1]) / "recording_plugin.py"
    module.write_text(textwrap.dedent(RECORDING.format(module=f"{name}_plugin")))
    sys.modules.pop("recording_plugin", None)
    recording = importlib.import_module("recording_plugin")
    plugin = recording.Recording()

    images = np.random.default_rng(0).integers(0, 256, size=(16, 8, 8, 1)).astype("float32")
    labels = np.arange(16) % 4
    registry_get = registry.get_plugin
    monkeypatch.setattr(registry, "get_plugin", lambda wanted: plugin if wanted == name else registry_get(wanted))
    hub.predict(name, images[:2], weights=None)
    hub.train(name, (images, labels), epochs=1, batch_size=8, verbose=0)
    for check in (hub.testing.check_small_build, hub.testing.check_default_build,
                  hub.testing.check_raw_image_prediction, hub.testing.check_training_step):
        check(plugin)
    passed = {argument for call in recording.CALLS for argument in call}
    assert passed, "no build was recorded"
    undocumented = passed - documented_arguments()
    assert not undocumented, f"the hub passes {sorted(undocumented)} to build, which the README does not list"
    if capability:
        assert {"include_preprocessing", "precision", "num_classes", "include_top"} <= passed
