"""Shared pytest fixtures and hooks for the hub_core tests."""

from __future__ import annotations

import importlib.metadata as metadata
import pathlib
import subprocess
import sys

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
SECRET = "the words only the secret file holds"  # serve tests: no response may contain them
FIXTURE_DISTRIBUTIONS = {"hub-sample-plugin": FIXTURES / "sample_plugin", "hub-broken-plugin": FIXTURES / "broken_plugin"}
_installed_here: list[str] = []


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def pytest_configure(config):
    """Pip-install the fixture third-party plugins into the test environment.

    They are installed like any third party's package, before collection, so
    the conformance parametrization sees them. This session removes them again
    at the end if it installed them.
    """
    missing = [str(path) for name, path in FIXTURE_DISTRIBUTIONS.items() if not _installed(name)]
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", *missing],
            check=True,
        )
        _installed_here.extend(name for name, path in FIXTURE_DISTRIBUTIONS.items() if str(path) in missing)
        from hub_core.hub import catalog

        catalog.refresh()


def pytest_unconfigure(config):
    if _installed_here:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *_installed_here], check=False)


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """A fresh, empty ``HUB_CORE_HOME`` (online, no mirrors, short timeouts)."""
    home = tmp_path / "hub_home"
    monkeypatch.setenv("HUB_CORE_HOME", str(home))
    monkeypatch.setenv("HUB_CORE_TIMEOUT", "5")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HUB_CORE_OFFLINE", raising=False)
    monkeypatch.delenv("HUB_CORE_MIRROR", raising=False)
    return home


@pytest.fixture
def http_server(tmp_path):
    """A started :class:`~hub_core.testing.http_server.FileServer` serving ``tmp_path / "served"``."""
    from hub_core.testing.http_server import FileServer

    served = tmp_path / "served"
    served.mkdir()
    with FileServer(served) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished 1-epoch tiny_convnet run on 6 digits per class: ``(run_dir, held_out_folder)``; copy it to change it."""
    import hub_core as hub
    from hub_core import data
    from hub_core.demo import write_digits

    root = tmp_path_factory.mktemp("tiny_run")
    train_dir, test_dir = write_digits(root / "digits", per_class=6)
    train, val = data.image_folder(train_dir, model="tiny_convnet", batch_size=16, validation_split=0.2, seed=0)
    hub.fine_tune("tiny_convnet", train, val, epochs=1, strategy="head", run_dir=root / "run", verbose=0)
    return root / "run", test_dir


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory, tiny_run):
    """A ``hub serve --runs`` folder: a tiny trained run (with its evaluation and card), a sweep and a corrupt run.

    ``digits`` is a copy of :func:`tiny_run`, evaluated on its held-out digits (``evaluation.json``
    is ``hub.evaluate``'s result); ``sweep`` holds a ``sweep.json``; ``corrupt`` has unreadable files; ``table``
    holds a model of named features (:func:`feature_model`). Beside the folder lies ``secret.txt``, which no request
    may reach.
    """
    import json
    import shutil

    import hub_core as hub
    from hub_core import data, saving

    base = tmp_path_factory.mktemp("serve")
    root = base / "runs"
    source, test_dir = tiny_run
    run = root / "digits"
    shutil.copytree(source, run)
    test = data.image_folder(test_dir, model="tiny_convnet", batch_size=20, shuffle=False)
    evaluation = hub.evaluate(run, test)
    (run / "evaluation.json").write_text(json.dumps(evaluation))
    (run / "README.md").write_text("---\nauthor: the test suite\ndataset: sklearn digits\n---\n"
                                   "# Digits run\n\nTrained for **one** epoch. <script>alert(1)</script>\n")
    (root / "sweep").mkdir()
    (root / "sweep" / "sweep.json").write_text(json.dumps({
        "trials": [{"number": 0, "state": "COMPLETE", "params": {"learning_rate": 0.01}, "value": 0.25, "run_dir": "t0"},
                   {"number": 1, "state": "PRUNED", "params": {"learning_rate": 0.1}, "value": None, "run_dir": "t1"}],
        "best": {"number": 0, "value": 0.25}}))
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{not json")
    (corrupt / "metrics.json").write_text("[1, 2")
    (corrupt / "model.keras").write_bytes(b"PK\x03\x04 not a zip")
    (base / "secret.txt").write_text(SECRET)
    table = root / "table"
    table.mkdir()
    saving.save_model(feature_model(), table / saving.FINAL_MODEL)
    (table / saving.RUN_CONFIG).write_text(json.dumps({"model": None, "arguments": {"epochs": 0}}))
    return root


def feature_model():
    """A small model of named table features (a number and a category) giving a probability, fixed weights."""
    import keras
    import numpy as np

    age = keras.Input((), name="age", dtype="float32")
    sex = keras.Input((), name="sex", dtype="string")
    one_hot = keras.layers.StringLookup(vocabulary=["Female", "Male"], output_mode="one_hot")(sex)
    scaled = keras.layers.Reshape((1,))(keras.layers.Rescaling(1 / 50.0)(age))
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(keras.layers.Concatenate()([scaled, one_hot]))
    model = keras.Model({"age": age, "sex": sex}, output)
    model.get_layer("probability").set_weights([np.array([[1.5], [-0.2], [-1.0], [0.7]], "float32"),
                                                np.array([-0.5], "float32")])
    return model


@pytest.fixture(scope="session")
def hub_server(serve_runs):
    """A real ``hub serve`` app on 127.0.0.1 (uvicorn in a thread, a free port) over ``serve_runs``.

    Yields ``.url`` (``http://127.0.0.1:PORT/``) and ``.app``.

    It predicts with Keras (the ``auto`` engine's first OpenVINO export would not fit the tests' time budget;
    ``benchmarks/bench_serve.py`` measures ``auto``).
    """
    import types

    from hub_core.serve.app import create_app
    from hub_core.serve.server import background

    app = create_app(runs=[serve_runs], engine="keras")
    with background(app) as url:
        yield types.SimpleNamespace(url=url, app=app)
