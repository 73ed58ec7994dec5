"""The ``generated`` weight set of ``captcha_inverted10``: trained here, shipped inside the plugin package.

``data/captcha_inverted10.weights.h5`` holds the weights that
``benchmarks/bench_captcha.py`` trains through ``hub.train`` on
:func:`hub_core.data.captcha` images: the first release's weights, widened to
today's net, trained in every Noto CJK face and WenQuanYi Zen Hei, then with
``face_augment`` in the 80 Noto CJK faces of ``fonts-noto-cjk`` and
``fonts-noto-cjk-extra`` and Zen Hei's three (never WenQuanYi Micro Hei, which
its held-out images use).
The file is checked against its sha256 before it is read, like every weight set.
"""

from __future__ import annotations

import pathlib

from hub_core.errors import ChecksumError, WeightsError
from hub_core.files import sha256_file
from hub_core.hub.plugin import WeightSet

FORMAT = "keras_weights_h5"
FILE = "captcha_inverted10.weights.h5"
SHA256 = "2094810bd2d34c6b32aa56cfe8b340f7eb36c6d2c3c950cc0597e5a94ee9d80f"
SIZE = 1_959_200
REASON_CHARS = 400  # of Keras' message, in ours
TRAINING = "the commands in the docstring of benchmarks/bench_captcha.py"

GENERATED = WeightSet(
    name="generated",
    license="Apache-2.0",
    description="Trained here on generated captchas (hub.data.captcha: GB2312 level 1, 3-6 of 10 inverted, "
    "every Noto CJK face and WenQuanYi Zen Hei, glyph faces varied); see the README for its exact match on "
    "WenQuanYi Micro Hei.",
    format=FORMAT,
    num_classes=10,
    published=False,
    note=f"Ships inside the plugin (hub_plugins/captcha/data/{FILE}, {SIZE} bytes, sha256 {SHA256}); "
    f"retrain it with: {TRAINING}.",
    source=f"package:hub_plugins.captcha/data/{FILE}",
)


def generated_path() -> pathlib.Path:
    """The shipped weights file, checked against its sha256.

    Raises:
        WeightsError: When the file is missing (a broken install).
        ChecksumError: When the file is not the one this version ships.
    """
    path = pathlib.Path(__file__).with_name("data") / FILE
    if not path.is_file():
        raise WeightsError(f"The captcha weights {path} are missing; reinstall hub-core, or retrain them with: {TRAINING}.")
    digest = sha256_file(path)
    if digest != SHA256:
        raise ChecksumError(f"{path} has sha256 {digest}, not {SHA256}; reinstall hub-core, or retrain with: {TRAINING}.")
    return path


def load_weights(model, ref) -> None:
    """Load ``ref`` (the ``generated`` set, or a ``.weights.h5`` path or URL) into ``model``.

    Raises:
        WeightsError: When the file does not fit the model.
    """
    path = generated_path() if ref.weight_set is not None else ref.fetch()
    try:
        model.load_weights(path)
    except (ValueError, OSError) as error:
        reason = " ".join(str(error).split()).split(" Target variable:")[0][:REASON_CHARS]  # not the tensors Keras prints
        raise WeightsError(f"Weights '{ref.label}' ({path}) do not fit {model.name} ({reason}); pass a "
                           ".weights.h5 file saved from a captcha_inverted10 model.") from None
