"""How many bytes a weight file may make a reader allocate, checked before anything is read.

Every reader compares the bytes each array declares (shape x item size)
with the bytes the file really holds for it, and the sum over the file with
``HUB_CORE_MAX_WEIGHTS_BYTES`` (:func:`hub_core.config.max_weights_bytes`).
Compressed data may expand at most :data:`MAX_EXPANSION` times; arrays up to
:data:`SMALL_BYTES` are exempt from that ratio (a zero bias compresses far
better, and is harmless).
"""

from __future__ import annotations

import os

from hub_core import config
from hub_core.errors import InvalidArgumentError, WeightsError

MAX_EXPANSION = 100
SMALL_BYTES = 1 << 20


def limit() -> int:
    """``HUB_CORE_MAX_WEIGHTS_BYTES`` as a number.

    Raises:
        InvalidArgumentError: When the setting is malformed.
    """
    try:
        return config.max_weights_bytes()
    except ValueError as error:
        raise InvalidArgumentError(str(error)) from None


class Budget:
    """The running total of bytes one file's arrays declare, against :func:`limit`."""

    def __init__(self, source: str | os.PathLike):
        self.source = source
        self.limit = limit()
        self.total = 0

    def check(self, declared: int, stored: int, what: str, *, compressed: bool = False) -> None:
        """Refuse an array of ``declared`` bytes that the file holds in ``stored`` bytes, if they cannot be.

        Args:
            declared: Shape x item size.
            stored: Bytes of the file that hold the array.
            what: The array's name in the file, for the message.
            compressed: Whether ``stored`` may expand (up to :data:`MAX_EXPANSION` times).

        Raises:
            WeightsError: When the file cannot hold the array.
        """
        room = stored * MAX_EXPANSION if compressed else stored
        if declared > max(room, SMALL_BYTES if compressed else 0):
            raise WeightsError(
                f"Refused to read {self.source}: '{what}' declares {declared} bytes but the file holds "
                f"{stored} bytes for it{' compressed' if compressed else ''}; the file is truncated or forged, re-download or re-export it."
            )

    def claim(self, declared: int, stored: int, what: str, *, compressed: bool = False) -> None:
        """:meth:`check` the array, then count it towards the file's total.

        Raises:
            WeightsError: When the file cannot hold the array or the total passes the limit.
        """
        self.check(declared, stored, what, compressed=compressed)
        self.total += declared
        if self.total > self.limit:
            raise WeightsError(
                f"Refused to read {self.source}: its arrays declare more than {self.limit} bytes (at '{what}'), "
                f"over {config.MAX_WEIGHTS_BYTES.name}; raise that setting if you trust this file."
            )


def out_of_memory(source: str | os.PathLike) -> WeightsError:
    """The error for a ``MemoryError`` while reading ``source``."""
    return WeightsError(
        f"Ran out of memory reading {source}; free memory or lower {config.MAX_WEIGHTS_BYTES.name} "
        "so that such files are refused up front."
    )
