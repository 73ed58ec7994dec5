"""Weights of the fast_style transform network: the shipped styles, and yours from training.

The shipped styles are weight sets of ``fast_style_lite``, trained here with
``hub.train_style`` by ``benchmarks/train_styles.py`` and stored as float16
``.npz`` files in ``data/`` inside the plugin package; each file is checked
against its sha256 before it is read, like every weight set.

``hub.train_style`` writes ``RUN_DIR/transform.weights.h5`` with :func:`save`.
``hub.load("fast_style", weights=X)`` accepts that run directory, the
``.weights.h5`` file itself, a ``.keras`` file of a transform network, or a
``.npz`` of ``"<layer>/<index>"`` arrays. The architecture options (normalisation, upsampling, width, residual
blocks, filters) are read back from the layer names and shapes, so a file always
rebuilds the network it came from.
"""

from __future__ import annotations

import os
import pathlib
import re
import tempfile
import zipfile
from typing import Any

from hub_core.errors import ChecksumError, InvalidArgumentError, WeightsError
from hub_core.files import sha256_file
from hub_core.hub.plugin import WeightSet

TRANSFORM_WEIGHTS = "transform.weights.h5"
_RESIDUAL = re.compile(r"^res(\d+)_a_conv$")
FORMAT = "fast_style_npz"
DATA = pathlib.Path(__file__).with_name("data")
TRAINING = "the commands in the docstring of benchmarks/train_styles.py (see the README)"


def _style(name: str, painting: str, sha256: str, size: int) -> WeightSet:
    """A shipped style: ``data/<name>.npz`` (float16), ``size`` bytes with this sha256."""
    file = f"{name}.npz"
    return WeightSet(
        name=name,
        license="Apache-2.0",
        description=f"{painting}: trained here with hub.train_style on the photos of skimage, scikit-learn and "
        "foolbox (5 held out), Gatys' VGG16 loss layers, HED VGG16 loss network.",
        format=FORMAT,
        published=False,
        note=f"Ships inside the plugin (hub_plugins/fast_style/data/{file}, {size} bytes, sha256 {sha256}); "
        f"retrain it with: {TRAINING}.",
        source=f"package:hub_plugins.fast_style/data/{file}",
    )


# name: (painting, sha256, bytes) of data/<name>.npz
SHIPPED = {
    "starry_night": ("Van Gogh, The Starry Night (1889; Debian opencv-doc)",
                    "ba07c683367b4ca04f4dc918e99a2049e6f7c7d964d81a23c0c0b7992bd83423", 255_040),
    "the_scream": ("Munch, The Scream (1893; Debian darknet)",
                  "1fd4b07887114cf7c7ec4513ee771f66341772db81393824202d83701dd58f74", 255_040),
}
STYLES = {name: _style(name, *entry) for name, entry in SHIPPED.items()}
DEFAULT_STYLE = "starry_night"


def shipped_path(name: str) -> pathlib.Path:
    """The shipped weights file of style ``name``, checked against its sha256.

    Raises:
        WeightsError: When the file is missing (a broken install).
        ChecksumError: When the file is not the one this version ships.
    """
    path = DATA / f"{name}.npz"
    if not path.is_file():
        raise WeightsError(f"The fast_style weights {path} are missing; reinstall hub-core, or retrain them with: {TRAINING}.")
    expected = SHIPPED[name][1]
    digest = sha256_file(path)
    if digest != expected:
        raise ChecksumError(f"{path} has sha256 {digest}, not {expected}; reinstall hub-core, or retrain with: {TRAINING}.")
    return path


def resolve(location: str | os.PathLike) -> pathlib.Path:
    """The weight file behind ``location`` (a run directory or a file).

    Raises:
        WeightsError: When a directory holds no transform weights.
    """
    path = pathlib.Path(location)
    if path.is_dir():
        file = path / TRANSFORM_WEIGHTS
        if not file.exists():
            raise WeightsError(
                f"{path} holds no {TRANSFORM_WEIGHTS}; pass a run directory written by hub.train_style "
                "(it writes that file when training ends) or a weights file."
            )
        return file
    return path


def save(model, run_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``model``'s weights atomically to ``run_dir/TRANSFORM_WEIGHTS``, where :func:`resolve` finds them.

    Returns:
        The weights file.
    """
    from hub_core.files import atomic_path

    file = pathlib.Path(run_dir) / TRANSFORM_WEIGHTS
    with atomic_path(file) as partial:
        model.save_weights(partial)
    return file


def save_float16(model, file: str | os.PathLike) -> pathlib.Path:
    """Write ``model``'s weights atomically as a float16 ``.npz`` of ``"<layer>/<index>"`` arrays (how styles ship).

    Returns:
        The file.
    """
    import numpy as np

    from hub_core.files import atomic_path

    arrays = {f"{layer.name}/{index}": np.asarray(value, "float16")
              for layer in model.layers for index, value in enumerate(layer.get_weights())}
    file = pathlib.Path(file)
    with atomic_path(file) as partial:
        np.savez(partial, **arrays)
    return file


def read_arrays(location: str | os.PathLike) -> dict[str, list[Any]]:
    """``{layer_name: [arrays]}`` from a run directory, ``.weights.h5``, ``.keras`` or ``.npz`` file."""
    from hub_core import vision
    from hub_core.store.readers.hdf5 import check_keras_file

    file = resolve(location)
    if file.suffix != ".keras":
        return vision.read_weights(file)
    check_keras_file(file)
    try:
        with zipfile.ZipFile(file) as archive, tempfile.TemporaryDirectory() as tmp:
            archive.extract("model.weights.h5", tmp)
            return vision.read_weights(pathlib.Path(tmp) / "model.weights.h5")
    except (zipfile.BadZipFile, KeyError) as error:
        raise WeightsError(f"{file} is not a Keras .keras archive with model weights ({error}).") from None


def architecture(arrays: dict[str, list[Any]]) -> dict[str, Any]:
    """The ``transform_net`` options that produced ``arrays``.

    Raises:
        WeightsError: When the arrays are not a fast_style transform network.
    """
    if "down1_conv" not in arrays or "out_conv" not in arrays:
        raise WeightsError(
            f"These weights are not a fast_style transform network (layers: {', '.join(sorted(arrays)[:6])}...); "
            "pass weights written by hub.train_style."
        )
    blocks = [int(m.group(1)) for name in arrays if (m := _RESIDUAL.match(name))]
    transpose = "up1_deconv" in arrays
    width = int(arrays["down1_conv"][0].shape[-1])
    # Output channels: the last kernel axis of a Conv2D, the one before it of a Conv2DTranspose.
    filters = (int(arrays["down2_conv"][0].shape[-1]), int(arrays["down3_conv"][0].shape[-1]),
               *(int(arrays[f"{up}_deconv"][0].shape[-2]) if transpose else int(arrays[f"{up}_conv"][0].shape[-1])
                 for up in ("up1", "up2")))
    return {
        "norm": "batch" if "down1_bn" in arrays else "instance",
        "upsampling": "transpose" if transpose else "resize",
        "width": width,
        "residual_blocks": max(blocks, default=0),
        "filters": filters,
    }


def merge_options(saved: dict[str, Any], requested: dict[str, Any], source: str) -> dict[str, Any]:
    """Builder options: the saved architecture, overridden only where it agrees.

    Raises:
        InvalidArgumentError: When an explicit option contradicts the weights.
    """
    conflicts = [f"{k}={requested[k]!r} (weights have {v!r})" for k, v in saved.items() if k in requested and requested[k] != v]
    if conflicts:
        raise InvalidArgumentError(
            f"Options {', '.join(conflicts)} do not match the weights in {source}; drop them to use the saved architecture."
        )
    return {**saved, **requested}
