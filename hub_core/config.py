"""Every ``HUB_CORE_*`` environment setting in one place: its name, default, meaning and reader.

The readers look at the environment on every call, so a setting changed at
run time (a test's ``monkeypatch.setenv``) takes effect at once. This module
imports the standard library only; a reader of a malformed value raises
``ValueError`` with a message for people, which its caller turns into a
``HubError``.
"""

from __future__ import annotations

import os
import pathlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One environment setting.

    Attributes:
        name: The environment variable.
        default: Its value when unset or empty, as text.
        meaning: What it controls, for people.
    """

    name: str
    default: str
    meaning: str

    def value(self) -> str:
        """The variable's value, or ``default`` when it is unset or empty."""
        return os.environ.get(self.name) or self.default


HOME = Setting("HUB_CORE_HOME", "~/.cache/hub_core",
               "Root of the cache: downloads in weights/, converted pickles in converted/, the inference engines' "
               "exports in engines/.")
OFFLINE = Setting("HUB_CORE_OFFLINE", "",
                  "1 (or true, yes, on) forbids network access; cached files and local mirrors still work.")
MIRROR = Setting("HUB_CORE_MIRROR", "",
                 "Base URLs or folders, separated by whitespace or os.pathsep, searched by file name before the "
                 "upstream URL; a mirror copy must have the published hash.")
TIMEOUT = Setting("HUB_CORE_TIMEOUT", "60",
                  "Seconds: the longest single network wait of a download (connecting, each read), and the base of "
                  "every file's deadline: 4 x this, plus 1 s per 64 KiB of the file, retries and mirrors included; a "
                  "process waiting for another's download gives up under the same bound.")
REGISTRY = Setting("HUB_CORE_REGISTRY", "",
                   "Catalog files (paths separated by os.pathsep) deep-merged over the built-in registry.json in order.")
PLUGIN_PINS = Setting("HUB_CORE_PLUGIN_PINS", "",
                      "NAME=DISTRIBUTION pairs, comma-separated: which distribution serves a plugin name that "
                      "several installed distributions register.")
DEBUG = Setting("HUB_CORE_DEBUG", "", "Any non-empty value makes the CLI print tracebacks and TensorFlow's start-up lines.")
DATA = Setting("HUB_CORE_DATA", "~/.cache/hub_core/data",
               "Folder of the test data files that scripts/install-test-data.sh installs (not Python packages).")
MAX_WEIGHTS_BYTES = Setting("HUB_CORE_MAX_WEIGHTS_BYTES", str(2 << 30),
                            "Most bytes of arrays one weight file may declare (default 2 GiB, 3.7x the largest "
                            "published file of 575 MB); larger files are refused before anything is read.")
SERVE_MODELS = Setting("HUB_CORE_SERVE_MODELS", "4",
                       "How many models `hub serve` keeps loaded (least recently used first out).")
SERVE_MAX_UPLOAD_BYTES = Setting("HUB_CORE_SERVE_MAX_UPLOAD_BYTES", str(20 << 20),
                                 "Most bytes of one image uploaded to `hub serve` (default 20 MiB); its pixels are "
                                 "bounded by PIL's decompression-bomb limit, as every image the hub reads.")
FONTS = Setting("HUB_CORE_FONTS", "",
                "Folder of CJK font files (.ttf, .ttc, .otf) for the captcha and printed-character generators; "
                "unset, they are found through fontconfig (fc-list :lang=zh).")
SETTINGS = (HOME, OFFLINE, MIRROR, TIMEOUT, REGISTRY, PLUGIN_PINS, DEBUG, DATA, MAX_WEIGHTS_BYTES, SERVE_MODELS,
            SERVE_MAX_UPLOAD_BYTES, FONTS)

_TRUE = ("1", "true", "yes", "on")
# Split HUB_CORE_MIRROR on ':' except in 'scheme://' and 'host:port'.
_POSIX_MIRROR_SPLIT = re.compile(r":(?!//)(?!\d+(?:/|:|$))")


def home() -> pathlib.Path:
    """The cache root: ``$HUB_CORE_HOME`` or ``~/.cache/hub_core``."""
    return pathlib.Path(HOME.value()).expanduser()


def offline() -> bool:
    """Whether ``HUB_CORE_OFFLINE`` forbids network access."""
    return OFFLINE.value().strip().lower() in _TRUE


def mirrors() -> list[str]:
    """The ``HUB_CORE_MIRROR`` entries (base URLs or folders), in order."""
    entries = []
    for token in MIRROR.value().split():
        parts = token.split(";") if os.pathsep == ";" else _POSIX_MIRROR_SPLIT.split(token)
        entries.extend(part for part in parts if part)
    return entries


def timeout() -> float:
    """``HUB_CORE_TIMEOUT`` in seconds (default 60): the longest network wait, and the base of each file's deadline.

    :class:`hub_core.store.transfer.Deadline` applies it.

    Raises:
        ValueError: When the value is not a number.
    """
    value = TIMEOUT.value()
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{TIMEOUT.name}={value!r} is not a number of seconds; set it to e.g. 60.") from None


def max_weights_bytes() -> int:
    """The most bytes of arrays one weight file may declare (``HUB_CORE_MAX_WEIGHTS_BYTES``, default 2 GiB).

    Raises:
        ValueError: When the value is not a positive whole number of bytes.
    """
    value = MAX_WEIGHTS_BYTES.value()
    if not value.strip().isdigit() or int(value) <= 0:
        raise ValueError(f"{MAX_WEIGHTS_BYTES.name}={value!r} is not a positive number of bytes; "
                         f"set it to e.g. {MAX_WEIGHTS_BYTES.default}.")
    return int(value)


def serve_models() -> int:
    """How many models ``hub serve`` keeps loaded (``HUB_CORE_SERVE_MODELS``, default 4).

    Raises:
        ValueError: When the value is not a positive whole number.
    """
    return _positive_int(SERVE_MODELS)


def serve_max_upload_bytes() -> int:
    """The most bytes of one image uploaded to ``hub serve`` (``HUB_CORE_SERVE_MAX_UPLOAD_BYTES``, default 20 MiB).

    Raises:
        ValueError: When the value is not a positive whole number of bytes.
    """
    return _positive_int(SERVE_MAX_UPLOAD_BYTES)


def _positive_int(setting: Setting) -> int:
    value = setting.value()
    if not value.strip().isdigit() or int(value) <= 0:
        raise ValueError(f"{setting.name}={value!r} is not a positive whole number; set it to e.g. {setting.default}.")
    return int(value)


def registry_paths() -> list[str]:
    """The ``HUB_CORE_REGISTRY`` catalog files, in merge order (empty entries dropped)."""
    return [path for path in REGISTRY.value().split(os.pathsep) if path]


def plugin_pins() -> dict[str, str]:
    """``HUB_CORE_PLUGIN_PINS`` as ``{plugin name: distribution}`` (``"NAME=DISTRIBUTION,NAME2=DISTRIBUTION2"``).

    Raises:
        ValueError: When an entry is not ``NAME=DISTRIBUTION``.
    """
    found = {}
    for item in filter(None, (part.strip() for part in PLUGIN_PINS.value().split(","))):
        name, _, distribution = item.partition("=")
        if not name.strip() or not distribution.strip():
            raise ValueError(f"{PLUGIN_PINS.name} entry {item!r} is not NAME=DISTRIBUTION; "
                             f"write e.g. {PLUGIN_PINS.name}=my_model=my-distribution.")
        found[name.strip()] = distribution.strip()
    return found


def debug() -> bool:
    """Whether ``HUB_CORE_DEBUG`` asks for tracebacks (any non-empty value)."""
    return bool(DEBUG.value())


def data_dir() -> pathlib.Path:
    """The test-data folder: ``$HUB_CORE_DATA`` or ``~/.cache/hub_core/data``."""
    return pathlib.Path(DATA.value()).expanduser()


def fonts_dir() -> pathlib.Path | None:
    """The ``HUB_CORE_FONTS`` folder of CJK fonts, or None when unset (fontconfig finds them)."""
    value = FONTS.value().strip()
    return pathlib.Path(value).expanduser() if value else None
