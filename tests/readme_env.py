"""The folder and the offline weights mirror that tests/test_readme.py runs the README's examples in.

The README speaks of a user's files: ``photos/`` (one sub-folder per class),
``flowers/`` and ``test_data/`` (the same classes), ``rose.jpg``, ``photo.jpg``,
``starry_night.jpg`` and arrays ``x``, ``y``. Here they are small real images:
foolbox's ImageNet and CIFAR-10 photos, scikit-learn's digits written as PNG
(as ``hub demo`` does) and The Starry Night installed by
``scripts/install-test-data.sh``.

ImageNet weights cannot be downloaded in tests, so :func:`write_weights_mirror`
writes keras.applications models (random weights) in the legacy h5 layout of
the published files, and a catalog overlay gives their sha256; with
``HUB_CORE_MIRROR`` and ``HUB_CORE_OFFLINE=1`` the hub takes them from that
folder and never touches the network.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import numpy as np

from image_helpers import foolbox_photos, write_legacy_h5

DATA_DIR = pathlib.Path(os.environ.get("HUB_CORE_DATA", pathlib.Path.home() / ".cache" / "hub_core" / "data"))
# (plugin, variant, weight set, {role: keras.applications builder keywords}) served by the mirror.
MIRRORED = (
    ("resnet", "resnet50", "imagenet", {"top": {}, "notop": {"include_top": False}}),
    ("vgg16", "vgg16", "imagenet", {"notop": {"include_top": False}}),
)
KERAS_APPLICATIONS = {"resnet50": "ResNet50", "vgg16": "VGG16"}
# Names the README's examples take as the user's own (defined before a section's first block).
PRELUDE = "import numpy as _np\n_arrays = _np.load('arrays.npz')\nx, y = _arrays['x'], _arrays['y']\ndel _np, _arrays\n"


def starry_night() -> pathlib.Path:
    """The painting; a missing file is an error that names the install script."""
    path = DATA_DIR / "starry_night.jpg"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run: bash scripts/install-test-data.sh")
    return path


def prepare_user_files(folder: pathlib.Path) -> None:
    """Write the user's images and arrays that the README's examples name into ``folder``."""
    from hub_core.demo import write_digits

    imagenet = foolbox_photos()
    for index, photo in enumerate(imagenet[:12]):  # photos/: two classes of real photos
        target = folder / "photos" / ("animals" if index % 2 else "things") / photo.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, target)
    shutil.copy(imagenet[12], folder / "rose.jpg")
    shutil.copy(imagenet[13], folder / "photo.jpg")
    shutil.copy(starry_night(), folder / "starry_night.jpg")

    digits = folder / "digits"  # flowers/ and test_data/: three classes of real scans, same class names
    train, test = write_digits(digits, test_fraction=0.25, per_class=12)
    for source, name in ((train, "flowers"), (test, "test_data")):
        for label in ("0", "1", "2"):
            shutil.copytree(source / label, folder / name / f"class_{label}")
    shutil.rmtree(digits)

    cifar = sorted(imagenet[0].parent.glob("cifar10_*.png"))  # x, y: CIFAR-10 photos and their labels
    from hub_core.vision import imaging

    x = imaging.load_images(cifar, 32).astype("float32")
    y = np.array([int(path.stem.rsplit("_", 1)[1]) for path in cifar], dtype="int32")
    np.savez(folder / "arrays.npz", x=x, y=y)


def write_weights_mirror(mirror: pathlib.Path) -> pathlib.Path:
    """Write the mirrored weight files into ``mirror``; return the catalog overlay that gives their sha256."""
    import keras

    from hub_core.files import sha256_file
    from hub_core.hub import catalog

    mirror.mkdir(parents=True, exist_ok=True)
    overlay: dict = {"plugins": {}}
    for plugin, variant, weight_set, roles in MIRRORED:
        published = catalog.entry(plugin)["variants"][variant]["weights"][weight_set]["files"]
        files = []
        for entry in published:
            if entry["role"] not in roles:
                files.append(entry)
                continue
            name = entry["url"].rsplit("/", 1)[1]
            reference = getattr(keras.applications, KERAS_APPLICATIONS[variant])(weights=None, **roles[entry["role"]])
            path = write_legacy_h5(reference, mirror / name)
            del reference
            keras.backend.clear_session()
            files.append({"role": entry["role"], "url": entry["url"], "sha256": sha256_file(path)})
        overlay["plugins"].setdefault(plugin, {"variants": {}})["variants"][variant] = {
            "weights": {weight_set: {"files": files}}}
    path = mirror / "catalog_overlay.json"
    path.write_text(json.dumps(overlay, indent=1))
    return path

