"""CJK fonts for the generated data sets: found through fontconfig or in the ``HUB_CORE_FONTS`` folder.

The data script (``scripts/install-test-data.sh``) installs the Debian packages
``fonts-wqy-zenhei``, ``fonts-wqy-microhei``, ``fonts-noto-cjk`` and
``fonts-noto-cjk-extra`` (Noto CJK's other weights). Without
``HUB_CORE_FONTS``, the fonts are those ``fc-list :lang=zh`` lists (one entry
per face of a ``.ttc`` collection); with it, every ``.ttf``, ``.ttc`` and
``.otf`` file in that folder (the first face of each). This module imports
no TensorFlow, and Pillow only when a font is opened.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import subprocess
from typing import Sequence

from hub_core import config
from hub_core.errors import DataError, InvalidArgumentError

FONT_EXTENSIONS = (".ttf", ".ttc", ".otf")
INSTALL_HINT = "install a CJK font package (apt-get install fonts-wqy-zenhei, or run scripts/install-test-data.sh)"


@dataclasses.dataclass(frozen=True)
class Font:
    """One font face.

    Attributes:
        path: The font file.
        index: The face in a ``.ttc`` collection.
        family: The family name (``"WenQuanYi Zen Hei"``).
        style: The style (``"Regular"``, ``"Bold"``).
    """

    path: str
    index: int = 0
    family: str = ""
    style: str = ""

    @property
    def name(self) -> str:
        """``"family style"``, the name :func:`find_fonts` matches."""
        return f"{self.family} {self.style}".strip()

    @functools.lru_cache(maxsize=512)
    def open(self, size: int):
        """This face at ``size`` pixels as a Pillow ``FreeTypeFont`` (kept for the next call with the same size).

        Raises:
            DataError: When the file cannot be read as a font.
        """
        from PIL import ImageFont

        try:
            return ImageFont.truetype(self.path, size, index=self.index)
        except OSError as error:
            raise DataError(f"{self.path} (face {self.index}) could not be opened as a font ({error}); "
                            f"pick another font or {INSTALL_HINT}.") from None


def cjk_fonts() -> list[Font]:
    """Every installed CJK font face, sorted by name (the ``HUB_CORE_FONTS`` folder's when set).

    Returns:
        The faces; never empty.

    Raises:
        DataError: When no CJK font is found, naming the Debian package to install.
    """
    folder = config.fonts_dir()
    if folder is not None:
        fonts = [Font(str(path), 0, path.stem, "") for path in sorted(folder.glob("*"))
                 if path.suffix.lower() in FONT_EXTENSIONS and path.is_file()]
        where = f"{config.FONTS.name}={folder}"
    else:
        fonts = _fontconfig_fonts()
        where = "fontconfig (fc-list :lang=zh)"
    if not fonts:
        raise DataError(f"No Chinese (CJK) font was found through {where}; {INSTALL_HINT}.")
    return sorted(set(fonts), key=lambda font: (font.name, font.path, font.index))


def _fontconfig_fonts() -> list[Font]:
    """The faces that ``fc-list :lang=zh`` lists (none without fontconfig)."""
    program = shutil.which("fc-list")
    if program is None:
        return []
    listing = subprocess.run([program, ":lang=zh", "--format", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\n"],
                             capture_output=True, text=True, check=False).stdout
    fonts = []
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0].lower().endswith(FONT_EXTENSIONS) and parts[1].isdigit():
            fonts.append(Font(parts[0], int(parts[1]), parts[2], parts[3]))
    return fonts


def find_fonts(names: Sequence[str] | str | None = None) -> list[Font]:
    """The installed CJK faces whose name contains one of ``names`` (case-insensitive), or all of them.

    Args:
        names: Name parts (``"Zen Hei"``, ``"Noto Sans CJK SC Bold"``), one name, or None for every face.

    Returns:
        The matching faces, sorted by name.

    Raises:
        DataError: When no CJK font is installed.
        InvalidArgumentError: When a name matches no installed face.
    """
    fonts = cjk_fonts()
    if names is None:
        return fonts
    wanted = [names] if isinstance(names, str) else list(names)
    found = []
    for name in wanted:
        matches = [font for font in fonts if name.lower() in font.name.lower()]
        if not matches:
            raise InvalidArgumentError(f"No installed CJK font is named like {name!r}; installed: "
                                       f"{', '.join(sorted({font.name for font in fonts}))}.")
        found.extend(font for font in matches if font not in found)
    return sorted(found, key=lambda font: (font.name, font.path, font.index))
