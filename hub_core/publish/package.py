"""``hub publish``: a run directory as an installable plugin wheel, built offline with setuptools.

The wheel ``hub_NAME-VERSION-py3-none-any.whl`` of the distribution ``hub-NAME`` holds the package
``hub_NAME``:

* ``plugin.py``: a :class:`~hub_core.publish.plugin.PublishedPlugin` subclass naming the plugin and package,
  registered as ``NAME`` under ``hub_core.plugins``;
* ``hub_catalog.json``: its catalog data, read as data when listing (no plugin code runs; the paper is the
  base model's, whose architecture it is), with the model
  card (also the distribution's long description), the declared preprocessing and the weight set
  ``trained`` whose file is ``package://hub_NAME/weights/NAME.keras`` with its sha256;
* ``class_names.json`` and ``weights/NAME.keras``: the run's model (``best.keras``, else ``model.keras``).

The architecture comes from that safe-mode ``.keras`` file, not from the base plugin's builder: it is the
run's own model, so the installed model predicts exactly like the run directory whatever head or
preprocessing the training added, and it is read by Keras' safe mode after the store checked its sha256,
so loading runs no code from the weights. The wheel depends on a compatible ``hub-core`` (the layers the
file names are hub-core's or Keras') and, when the base plugin is a third party's, on its distribution.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from hub_core import __version__
from hub_core.errors import HubError, InvalidArgumentError
from hub_core.files import sha256_file
from hub_core.hub.spec import CARD_BUDGET
from hub_core.saving import CLASS_NAMES

WEIGHT_SET = "trained"
DEFAULT_VERSION = "0.1.0"
PUBLISH_EXTRA = 'pip install "hub-core[publish]"'


def distribution_name(name: str) -> str:
    """The distribution that publishes ``name``: ``hub-NAME``."""
    return f"hub-{name}"


def package_name(name: str) -> str:
    """The top-level package of the published ``name``: ``hub_`` and the name, lower case, ``-``/``.`` as ``_``."""
    return "hub_" + re.sub(r"[-.]", "_", name).lower()


def check_name(name: str) -> None:
    """Refuse a name that is not a valid distribution name, or that an installed plugin or model uses.

    A plugin or model of the distribution ``hub-NAME`` itself (an earlier release) does not count.

    Raises:
        InvalidArgumentError: Naming what is wrong, and for a taken name which plugin, model or distribution
            has it and from which distribution.
    """
    from packaging.utils import InvalidName, canonicalize_name

    from hub_core.hub import catalog, registry

    try:
        own = canonicalize_name(distribution_name(name), validate=True)
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise InvalidArgumentError(
            f"'{name}' is not a valid distribution name (PEP 508: letters, digits and '.', '-', '_' inside, starting "
            "and ending with a letter or digit); choose a name like 'my-digits-model'.") from None
    taken = None
    registration = registry.registrations().get(name)
    claimants = registry.conflicts().get(name) or ([registration] if registration else [])
    others = [r for r in claimants if canonicalize_name(r.distribution) != own]
    if others:
        taken = f"the plugin '{name}' of the distribution '{others[0].distribution}' {others[0].version}"
    for plugin_name, entry in ({} if taken else catalog.entries()).items():
        if name in entry["variants"] and canonicalize_name(entry["distribution"]) != own:
            taken = f"a model of the plugin '{plugin_name}' from the distribution '{entry['distribution']}' {entry['version']}"
            break
    if taken is None:
        import importlib.metadata

        try:
            dist = importlib.metadata.distribution(distribution_name(name))
        except importlib.metadata.PackageNotFoundError:
            dist = None
        plugins = [e.name for e in (dist.entry_points if dist else ()) if e.group == registry.ENTRY_POINT_GROUP]
        if dist is not None and name not in plugins:
            taken = (f"the installed distribution '{dist.metadata['Name']}' {dist.version}, which "
                     + (f"registers {', '.join(plugins)}" if plugins else "registers no plugin"))
    if taken:
        raise InvalidArgumentError(f"The name '{name}' is taken by {taken}; publish under another --name.")


def publish(run_dir: str | os.PathLike, name: str, *, version: str = DEFAULT_VERSION, license: str | None = None,
            description: str | None = None, out: str | os.PathLike = "dist") -> pathlib.Path:
    """Build the wheel of a plugin distribution ``hub-NAME`` that serves a run directory's model as ``NAME``.

    Args:
        run_dir: A finished run directory of an image classifier (``hub.fine_tune`` / ``hub.train``).
        name: The plugin and model name (a valid distribution name that no installed plugin or model uses).
        version: The distribution's version (PEP 440).
        license: The license (default: the base weights' license; required when the run started from none).
        description: One line for ``hub list`` and the card (default: what the run was trained from).
        out: The folder the wheel is written to (created when missing).

    Returns:
        The wheel's path.

    Raises:
        InvalidArgumentError: For a taken or invalid name, an invalid version, another task than image
            classification, no license, or a card over the 64 KiB budget.
        DataError: When ``run_dir`` is not a finished run directory or its model cannot be read safely.
        HubError: When the ``build`` package is missing or the build fails.

    Example:
        >>> import hub_core as hub
        >>> wheel = hub.publish("runs/digits", "digits-tiny", version="1.0.0")
    """
    from packaging.version import InvalidVersion, Version

    from hub_core.publish import card
    from hub_core.saving import BEST_MODEL, FINAL_MODEL

    check_name(name)
    try:
        version = str(Version(version))
    except InvalidVersion:
        raise InvalidArgumentError(f"'{version}' is not a valid version (PEP 440); pass one like 1.0.0.") from None
    _require_build()
    run = card.Run(pathlib.Path(run_dir))
    if run.task != "image-classification":
        raise InvalidArgumentError(f"{run_dir} holds a {run.task or 'model of an uninstalled plugin'} run, and "
                                   "hub publish publishes image classifiers; publish an image classifier's run.")
    license = license or run.base_license
    if not license:
        raise InvalidArgumentError(f"The run in {run_dir} started from no licensed weights, so its license is yours to "
                                   "choose; pass --license (license=), an SPDX id such as MIT or Apache-2.0.")
    text = card.card_text(run.path, name=name, license=license, description=description)
    if len(text.encode("utf-8")) > CARD_BUDGET:
        raise InvalidArgumentError(f"The model card of {run_dir} is {len(text.encode('utf-8'))} bytes, over the "
                                   f"{CARD_BUDGET}-byte budget of catalog data; shorten --description or the class names.")
    model_file = run.path / (BEST_MODEL if (run.path / BEST_MODEL).is_file() else FINAL_MODEL)
    num_params, input_shape = _inspect(model_file)
    description = description or f"{run.base} trained on {len(run.class_names)} classes, published with hub publish."
    package = package_name(name)
    weights_name = f"{name}.keras"
    digest = sha256_file(model_file)
    entry = {
        "task": run.task, "description": description, "license": license, "paper": run.base_paper,
        "default_variant": name, "capabilities": [],
        "variants": {name: {
            "card": text, "description": description, "input_shape": input_shape, "num_params": num_params,
            "preprocessing": "none" if run.preprocessing.get("preprocessing_in_model", True)
            else run.config.get("preprocessing", "none"),
            "default_weights": WEIGHT_SET,
            "weights": {WEIGHT_SET: {
                "description": f"Trained from {run.base}" + (f" ({run.base_weights})" if run.base_weights else "")
                + f" on {len(run.class_names)} classes; see the model card.",
                "license": license, "format": "keras", "num_classes": len(run.class_names) or None,
                "published": True, "source": "",
                "note": f"Ships inside the pip package {distribution_name(name)}=={version}; verified by sha256 on every load.",
                "files": [{"url": f"package://{package}/weights/{weights_name}", "sha256": digest,
                           "size": model_file.stat().st_size, "role": "default", "file_name": weights_name}],
            }},
        }},
    }
    from hub_core.hub import catalog

    with tempfile.TemporaryDirectory(prefix="hub-publish-") as tmp:
        source = pathlib.Path(tmp) / distribution_name(name)
        folder = source / package
        (folder / "weights").mkdir(parents=True)
        shutil.copyfile(model_file, folder / "weights" / weights_name)
        (folder / catalog.DATA_FILE).write_text(catalog.dumps({"schema_version": catalog.SCHEMA_VERSION,
                                                               "plugins": {name: entry}}), encoding="utf-8")
        (folder / CLASS_NAMES).write_text(json.dumps(run.class_names, indent=2), encoding="utf-8")
        (folder / "__init__.py").write_text(f'"""The model {name}, published with hub publish."""\n', encoding="utf-8")
        (folder / "plugin.py").write_text(_PLUGIN.format(name=name, package=package), encoding="utf-8")
        (source / "README.md").write_text(text, encoding="utf-8")
        (source / "pyproject.toml").write_text(_PYPROJECT, encoding="utf-8")
        (source / "setup.cfg").write_text(_setup_cfg(name, version, description, license, package,
                                                     _requirements(run.config.get("plugin"))), encoding="utf-8")
        return _build(source, pathlib.Path(out))


def _inspect(model_file: pathlib.Path) -> tuple[int, list[int | None]]:
    """``(parameter count, input shape)`` of a saved model, read with Keras' safe mode (refused when unsafe)."""
    from hub_core.saving import load_keras

    model = load_keras(model_file)
    return int(model.count_params()), [None if d is None else int(d) for d in model.inputs[0].shape[1:]]


def _requirements(base_plugin: str | None) -> list[str]:
    """``hub-core`` in a compatible range (same major version; same minor before 1.0), and a third-party base's distribution."""
    from packaging.version import Version

    from hub_core.hub import catalog

    current = Version(__version__)
    upper = f"{current.major + 1}" if current.major else f"0.{current.minor + 1}"
    requirements = [f"hub-core>={current.base_version},<{upper}"]
    entry = catalog.entry(base_plugin) if base_plugin else {}
    if entry.get("distribution") and entry["distribution"] != "hub-core":
        requirements.append(f"{entry['distribution']}>={entry['version']}")
    return requirements


def _require_build() -> None:
    """Raises HubError, saying how to install it, when the ``build`` package is missing."""
    import importlib.util

    if importlib.util.find_spec("build") is None:
        raise HubError(f"hub publish builds wheels with the 'build' package, which is not installed; run: {PUBLISH_EXTRA}")


def _build(source: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """Build the wheel of ``source`` offline (no isolation, no download) into ``out``; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hub-publish-", dir=out) as staging:
        done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", staging, str(source)],
                              capture_output=True, text=True, env={**os.environ, "PIP_NO_INDEX": "1"})
        wheels = list(pathlib.Path(staging).glob("*.whl"))
        if done.returncode or len(wheels) != 1:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise HubError(f"Building the wheel of {source.name} failed ({last[0]}); check that setuptools>=61 is "
                           f"installed ({PUBLISH_EXTRA}).")
        wheel = out / wheels[0].name
        os.replace(wheels[0], wheel)  # the staging folder is inside out: one file system, an atomic move
    return wheel


def _setup_cfg(name: str, version: str, description: str, license: str, package: str, requires: list[str]) -> str:
    """The generated distribution's setup.cfg (metadata, dependencies, package data, entry point)."""
    requirements = "".join(f"\n    {r}" for r in requires)
    summary, license = " ".join(description.split()), " ".join(license.split())  # one line each in the file
    return f"""[metadata]
name = {distribution_name(name)}
version = {version}
description = {summary}
long_description = file: README.md
long_description_content_type = text/markdown
license = {license}
keywords = hub-core, keras, model

[options]
python_requires = >=3.10
packages = {package}
install_requires ={requirements}

[options.package_data]
{package} = *.json, weights/*

[options.entry_points]
hub_core.plugins =
    {name} = {package}.plugin:Plugin
"""


_PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
"""

_PLUGIN = '''"""The plugin class of {name}: its metadata, class names and weights are the data files beside this module."""

from hub_core.publish.plugin import PublishedPlugin


class Plugin(PublishedPlugin):
    """{name}, published with hub publish."""

    name = "{name}"
    package = "{package}"
'''

