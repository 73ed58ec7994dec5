"""Shared pytest fixtures and hooks for the hub_core tests."""

from __future__ import annotations

import importlib.metadata as metadata
import pathlib
import subprocess
import sys

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
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
