"""Input pipelines for training: image folders and in-memory arrays.

Both functions return batched ``tf.data.Dataset`` objects (decoding in
parallel, cached, prefetched) that can be passed to ``model.fit`` directly,
and that carry what the training loop needs to replay any epoch exactly
(``dataset.hub_pipeline``): this is what makes resume-after-crash and the
feature cache exact.

Image folders are :mod:`hub_core.data.images`, arrays :mod:`hub_core.data.arrays`, the replayable
pipeline behind both :mod:`hub_core.data.pipeline`; tables come from :mod:`hub_core.tabular`; the generated
inverted-character captchas :mod:`hub_core.data.captcha_images` (``hub.data.captcha``) and the printed-character
folders of :mod:`hub_core.data.character_images` (``hub.data.characters``), drawn in the CJK fonts of
:mod:`hub_core.data.fonts`.

Example:
    >>> import hub_core as hub
    >>> train, val = hub.data.image_folder("flowers/", model="vgg16", image_size=(64, 64),
    ...                                    batch_size=32, validation_split=0.2, seed=1, augment=True)
    >>> train.class_names
    ('daisy', 'tulip')
"""

import importlib
from typing import Any

from hub_core.data.arrays import from_arrays
from hub_core.data.captcha_images import captcha
from hub_core.data.character_images import characters
from hub_core.data.fonts import cjk_fonts
from hub_core.data.images import folder_description, image_folder, input_geometry, read_image
from hub_core.data.pipeline import Augment, Pipeline, pipeline_of

# Tables are built on from_arrays (hub_core.tabular sits above this package), so they are looked up on first use.
_TABULAR = {"table": "hub_core.tabular.tables", "encode_labels": "hub_core.tabular.tables",
            "read_frame": "hub_core.tabular.frames", "uci_adult": "hub_core.tabular.frames"}

__all__ = ["Augment", "Pipeline", "captcha", "characters", "cjk_fonts", "folder_description", "from_arrays", "image_folder", "input_geometry", "pipeline_of", "read_image",
           *_TABULAR]


def __getattr__(name: str) -> Any:
    if name in _TABULAR:
        return getattr(importlib.import_module(_TABULAR[name]), name)
    raise AttributeError(f"module 'hub_core.data' has no attribute '{name}'")
