"""``.npz``/``.npy`` files read with ``allow_pickle=False``."""

from __future__ import annotations

import os
import pathlib
import zipfile
from typing import Any

from hub_core.errors import WeightsError


def load_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.npz`` (or plain ``.npy``) file without allowing pickles.

    Args:
        path: The file to read.

    Returns:
        A dict of array name to numpy array (``{"arr_0": a}`` for a ``.npy``).

    Raises:
        WeightsError: When the file is unreadable or holds pickled objects.
    """
    import numpy as np

    path = pathlib.Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"arr_0": loaded}
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise WeightsError(f"Could not read {path} as numpy arrays ({error}); "
                           "it must be a .npz/.npy file without pickled objects.") from error
