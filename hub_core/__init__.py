"""hub_core: a Keras 3 model hub with plugins discovered through entry points.

Importing this package does not import TensorFlow or Keras.

Example:
    >>> import hub_core as hub
    >>> hub.list_models("resnet*")
    >>> model = hub.load("resnet50", weights=None)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from hub_core.api import load
from hub_core.errors import HubError
from hub_core.hub.registry import info, list_models
from hub_core.hub.registry import plugin_status as plugins

# Public names provided by submodules imported on first use (they import TF).
_LAZY = {
    "download": "hub_core.store.download",
    "fine_tune": "hub_core.training",
    "train": "hub_core.training",
    "evaluate": "hub_core.training",
    "predict": "hub_core.training",
    "export": "hub_core.exporting",
    "stylize": "hub_core.style",
    "train_style": "hub_core.style",
}
_LAZY_MODULES = {
    "data": "hub_core.data",
    "exporting": "hub_core.exporting",
    "imaging": "hub_core.vision.imaging",
    "tabular": "hub_core.tabular",
    "testing": "hub_core.testing",
    "training": "hub_core.training",
    "vision": "hub_core.vision",
}

__all__ = ["HubError", "info", "list_models", "load", "plugins", *_LAZY, *_LAZY_MODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'hub_core' has no attribute '{name}'")
