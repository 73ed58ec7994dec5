"""The wheel holds every module and data file of the core and the built-in plugins."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_every_core_and_plugin_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("hub_core-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "hub_core").rglob("*")
                if p.is_file() and p.suffix in (".py", ".json", ".html", ".css", ".js") and "__pycache__" not in p.parts}
    expected |= {"hub_plugins/" + str(p.relative_to(ROOT / "plugins")) for p in (ROOT / "plugins").rglob("*.py")
                 if "__pycache__" not in p.parts}
    missing = sorted(expected - names)
    assert not missing, f"files missing from the wheel: {missing}"


def test_the_test_extra_holds_the_engines_and_serve_extras():
    import configparser

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    extras = {name: {line.strip() for line in value.splitlines() if line.strip()}
              for name, value in parser["options.extras_require"].items()}
    assert {"openvino>=2025.0", "onnxruntime>=1.17", "nncf>=2.14", "ai-edge-litert>=1.2"} <= extras["engines"]
    assert extras["engines"] <= extras["test"], f"missing from the test extra: {sorted(extras['engines'] - extras['test'])}"
    assert {"fastapi>=0.110", "jinja2>=3.1", "uvicorn>=0.29", "python-multipart>=0.0.9"} <= extras["serve"]
    assert extras["serve"] <= extras["test"], f"missing from the test extra: {sorted(extras['serve'] - extras['test'])}"
    assert extras["sweep"] <= extras["test"], f"missing from the test extra: {sorted(extras['sweep'] - extras['test'])}"
