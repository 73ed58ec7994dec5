"""Test helpers for the image models: real photos and legacy-h5 weight files."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np


def foolbox_photos() -> list[pathlib.Path]:
    """The 20 labelled ImageNet photos shipped in foolbox's data folder (``imagenet_NN_<label>.jpg``)."""
    spec = importlib.util.find_spec("foolbox")
    folder = pathlib.Path(next(iter(spec.submodule_search_locations))) / "data"
    return sorted(folder.glob("imagenet_*.jpg"))


def photo_batch(size: int, count: int = 2) -> np.ndarray:
    """``count`` real photos, center-cropped to ``size``, as float32 0..255 RGB."""
    from hub_core.vision import imaging

    return imaging.load_images(foolbox_photos()[:count], size, crop="center").astype("float32")


def write_legacy_h5(model, path) -> pathlib.Path:
    """Write ``model``'s weights in the keras-applications legacy h5 layout.

    The root group carries ``layer_names``; each layer group carries
    ``weight_names`` (Keras' own legacy writer, as the published files).
    """
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path = pathlib.Path(path)
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    return path
