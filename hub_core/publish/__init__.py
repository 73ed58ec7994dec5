"""Model cards and publishing: ``hub card`` (:mod:`.card`), ``hub publish`` (:mod:`.package`) and the plugin class
that a published wheel registers (:mod:`.plugin`).

``hub.publish`` is this package, and calling it calls :func:`hub_core.publish.package.publish`: importing a
submodule (``hub_core.publish.card``, the readers' interface) binds the package to ``hub_core.publish``, so a
plain function of that name could not stay there (``hub.export`` avoids this with ``hub_core.exporting``).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """A module whose call is :func:`hub_core.publish.package.publish`."""

    def __call__(self, *args: Any, **kwargs: Any):
        from hub_core.publish.package import publish

        return publish(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
