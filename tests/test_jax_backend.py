"""Every image family builds and runs a forward pass under ``KERAS_BACKEND=jax``, without TensorFlow.

One subprocess builds each registered family at its small test shape and
reports output shapes; a family whose plugin is not registered yet is skipped
with the name of the missing plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

# model name -> (plugin, extra builder arguments on top of the plugin's small sample batch).
FAMILIES = {
    "vgg16": ("vgg16", {}),
    "resnet20": ("resnet", {"include_preprocessing": True, "precision": "bfloat16"}),
    "resnet50": ("resnet", {"precision": "bfloat16"}),  # BatchNorm folded into the convolutions
    "inception_resnet_v2": ("inception_resnet_v2", {}),
    "alexnet": ("alexnet", {}),
    "googlenet": ("googlenet", {}),
}

SCRIPT = r"""
import json, sys
import numpy as np
import keras
import hub_core as hub
from hub_core.hub import catalog, registry

report = {"backend": keras.backend.backend(), "models": {}}
for name, extra in json.loads(sys.argv[1]).items():
    plugin_name, variant_name = catalog.resolve(name)
    plugin = registry.get_plugin(plugin_name)
    batch = plugin.sample_batch(plugin.variant(variant_name), batch_size=2)
    model = hub.load(name, weights=None, **batch.build_kwargs, **extra)
    inputs = batch.inputs.astype("uint8") if extra.get("include_preprocessing") else batch.inputs
    outputs = np.asarray(model(inputs, training=False), dtype="float32")
    report["models"][name] = {
        "shape": list(outputs.shape),
        "finite": bool(np.isfinite(outputs).all()),
        "classes": batch.build_kwargs.get("classes"),
        "output_dtype": str(model.outputs[0].dtype),
    }
report["heavy"] = sorted(m for m in ("tensorflow", "torch") if m in sys.modules)
print("REPORT" + json.dumps(report))
"""


def _registered() -> set[str]:
    import hub_core as hub

    return set(hub.list_models())


@pytest.fixture(scope="module")
def jax_report():
    """Run every registered family once in a JAX subprocess and return its report."""
    present = {name: extra for name, (_, extra) in FAMILIES.items() if name in _registered()}
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(present)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT"):])


def test_subprocess_ran_on_jax_without_tensorflow(jax_report):
    assert jax_report["backend"] == "jax"
    assert jax_report["heavy"] == []


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_forward_pass_under_jax(name, jax_report):
    if name not in _registered():
        plugin = FAMILIES[name][0]
        pytest.skip(f"'{name}' is not registered: plugin '{plugin}' (plugins/{plugin}/) has not landed or does not import")
    result = jax_report["models"][name]
    assert result["shape"] == [2, result["classes"]]
    assert result["finite"]
    assert result["output_dtype"] == "float32"
