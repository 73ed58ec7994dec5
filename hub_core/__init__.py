"""hub_core: a Keras 3 model hub with plugins discovered through entry points.

Importing this package imports neither TensorFlow nor Keras, and runs no
plugin code: every public name is looked up in its module on first use.
Installed distributions add public functions through the ``hub_core.functions``
entry-point group (the built-in style-transfer plugin offers ``hub.stylize``
and ``hub.train_style`` so); the core's own names always win over theirs.

Example:
    >>> import hub_core as hub
    >>> hub.list_models("resnet*")
    >>> model = hub.load("resnet50", weights=None)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from hub_core.errors import HubError

# Public functions: name -> (module, attribute), imported on first use.
_LAZY = {
    "load": ("hub_core.api", "load"),
    "download": ("hub_core.api", "download"),
    "info": ("hub_core.hub.catalog", "info"),
    "list_models": ("hub_core.hub.catalog", "list_models"),
    "plugins": ("hub_core.hub.registry", "plugin_status"),
    "fine_tune": ("hub_core.training", "fine_tune"),
    "train": ("hub_core.training", "train"),
    "evaluate": ("hub_core.training", "evaluate"),
    "predict": ("hub_core.training", "predict"),
    "export": ("hub_core.exporting", "export"),
    "card": ("hub_core.publish.card", "write_card"),
    "sweep": ("hub_core.training.sweep", "sweep"),
    "embed": ("hub_core.training.embed", "embed"),
}
# Public modules: attribute -> module.
_LAZY_MODULES = {
    "data": "hub_core.data",
    "exporting": "hub_core.exporting",
    "imaging": "hub_core.vision.imaging",
    "publish": "hub_core.publish",  # callable: hub.publish(RUN_DIR, NAME) is hub_core.publish.package.publish
    "tabular": "hub_core.tabular",
    "testing": "hub_core.testing",
    "training": "hub_core.training",
    "vision": "hub_core.vision",
}

__all__ = ["HubError", *_LAZY, *_LAZY_MODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    if not name.startswith("_"):  # a public name: maybe a distribution's function
        from hub_core.hub import extensions

        found = extensions.function(name)
        if found is not None:
            globals()[name] = found  # read the metadata once per name
            return found
    raise AttributeError(f"module 'hub_core' has no attribute '{name}'")
