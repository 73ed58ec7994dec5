"""What reaches the user's terminal: native libraries' log lines are silenced, except when debugging.

TensorFlow and TFLite log from C++ straight to file descriptor 2, before and
regardless of Python's logging, so the only way to keep them off a user's
terminal is to point that descriptor at /dev/null while they run. Errors still
arrive as Python exceptions. With ``HUB_CORE_DEBUG`` set (or
``TF_CPP_MIN_LOG_LEVEL=0``) nothing is hidden.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Iterator

from hub_core import config


def hiding_native_output() -> bool:
    """Whether native log lines are to be hidden (not when debugging)."""
    return not (config.debug() or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Discard what native code writes to stderr, and Python warnings, inside the block (unless debugging)."""
    if not hiding_native_output():
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
