"""What the exports and engines share: :class:`ExportError` and importing a runtime of the ``engines`` extra."""

from __future__ import annotations

import importlib

from hub_core.errors import HubError

ENGINES_HINT = "pip install 'hub-core[engines]'"


class ExportError(HubError):
    """An export could not be written, reloaded, or does not match the original model."""


def runtime(module: str, format: str):
    """Import a runtime of the ``engines`` extra, or raise :class:`ExportError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ExportError(f"The {format} export needs {module.split('.')[0]}, which is not installed; "
                          f"install it with {ENGINES_HINT}.") from error
