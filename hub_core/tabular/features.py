"""The feature spec of tabular models, and raw-input checks.

A :class:`FeatureSpec` says, per column, how raw values become model inputs:

- :class:`Numeric`: a number, normalised; optionally bucketised into
  ``boundaries`` (or ``bins`` quantiles adapted from data).
- :class:`Categorical`: a vocabulary (given, or adapted from data) or hash
  buckets; one-hot or embedded, as the model chooses.
- :class:`Crossed`: a hashed cross of two or more categorical or bucketised
  columns (optionally embedded with ``embedding_dim``).

:func:`infer_spec` infers a spec from a DataFrame, :func:`as_spec` accepts a
spec in any of its forms, :func:`frame_from` gathers raw columns to adapt a
model's preprocessing and :func:`raw_features` checks and converts raw rows
into the arrays a model takes. ``hub.data.table(...)`` builds on these, and
tabular plugins build their models (and in-model preprocessing) from the spec.

The spec is plain data (``to_dict``/``from_dict`` round-trip through JSON).
This module imports neither TensorFlow, Keras nor pandas at import time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from hub_core.errors import DataError, InvalidArgumentError, unknown
from hub_core.tabular.frames import read_frame

HEADS = ("binary", "multiclass", "regression")
MISSING_STRING = ""


@dataclass(frozen=True)
class Numeric:
    """A numeric column.

    Attributes:
        name: Column name.
        boundaries: Bucket boundaries (e.g. for a linear model); None keeps the value unbucketised.
        bins: Number of quantile buckets adapted from data (instead of ``boundaries``).
        fill: Value for missing entries; None adapts the column mean.
    """

    name: str
    boundaries: tuple[float, ...] | None = None
    bins: int | None = None
    fill: float | None = None

    @property
    def bucketized(self) -> bool:
        """Whether the column also has bucket ids (``boundaries`` or ``bins``)."""
        return bool(self.boundaries) or bool(self.bins)


@dataclass(frozen=True)
class Categorical:
    """A categorical column (strings, or integers with ``dtype="int64"``).

    Attributes:
        name: Column name.
        vocabulary: Known values; None adapts them from data (most frequent first).
        hash_buckets: Hash into this many buckets instead of a vocabulary.
        max_tokens: Cap on an adapted vocabulary (rarer values become unknown).
        embedding_dim: Embedding width where the model embeds categories; 0 for no embedding.
        dtype: ``"string"`` or ``"int64"``.
    """

    name: str
    vocabulary: tuple[Any, ...] | None = None
    hash_buckets: int | None = None
    max_tokens: int | None = None
    embedding_dim: int = 8
    dtype: str = "string"


@dataclass(frozen=True)
class Crossed:
    """A hashed cross of categorical or bucketised columns.

    Attributes:
        columns: Names of the crossed columns (two or more).
        hash_buckets: Number of hash buckets of the cross.
        embedding_dim: Also embed the cross when > 0.
    """

    columns: tuple[str, ...]
    hash_buckets: int = 1000
    embedding_dim: int = 0

    @property
    def name(self) -> str:
        """The cross's layer-friendly name, ``a_x_b``."""
        return "_x_".join(self.columns)


Column = Union[Numeric, Categorical]


@dataclass(frozen=True)
class FeatureSpec:
    """Columns, crosses, label and head of a tabular model.

    Attributes:
        columns: The input columns, in order.
        crosses: Hashed crosses of categorical or bucketised columns.
        label: Name of the target column, if any.
        head: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        label_vocabulary: Label values in class-index order (classification heads).
    """

    columns: tuple[Column, ...]
    crosses: tuple[Crossed, ...] = ()
    label: str | None = None
    head: str = "binary"
    label_vocabulary: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise InvalidArgumentError(f"head must be one of {', '.join(HEADS)}, not '{self.head}'.")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"Column names must be unique; got {names}.")
        if not names:
            raise InvalidArgumentError("A feature spec needs at least one column.")
        by_name = {c.name: c for c in self.columns}
        for cross in self.crosses:
            if len(cross.columns) < 2:
                raise InvalidArgumentError(f"Cross '{cross.name}' needs at least two columns.")
            for name in cross.columns:
                column = by_name.get(name)
                if column is None:
                    raise InvalidArgumentError(f"Cross '{cross.name}' names column '{name}', which is not in the spec.")
                if isinstance(column, Numeric) and not column.bucketized:
                    raise InvalidArgumentError(
                        f"Cross '{cross.name}' uses numeric column '{name}' without buckets; "
                        "give it boundaries=... or bins=... to cross it."
                    )

    @property
    def names(self) -> list[str]:
        """Input column names, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise unknown("column", name, self.names)

    @property
    def num_classes(self) -> int:
        """Width of the output: 1 for binary and regression heads."""
        if self.head == "multiclass":
            if not self.label_vocabulary:
                raise InvalidArgumentError("A multiclass spec needs label_vocabulary (or pass num_classes=).")
            return len(self.label_vocabulary)
        return 1

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready plain data."""
        return {
            "columns": [{"kind": type(c).__name__.lower(), **_plain(c)} for c in self.columns],
            "crosses": [_plain(c) for c in self.crosses],
            "label": self.label,
            "head": self.head,
            "label_vocabulary": list(self.label_vocabulary) if self.label_vocabulary is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSpec":
        """Rebuild a spec from :meth:`to_dict` output (or hand-written JSON).

        Raises:
            InvalidArgumentError: For unknown column kinds or fields.
        """
        kinds = {"numeric": Numeric, "categorical": Categorical}
        columns = []
        for entry in data.get("columns", ()):
            entry = dict(entry)
            kind = entry.pop("kind", "numeric")
            if kind not in kinds:
                raise InvalidArgumentError(f"Column kind must be 'numeric' or 'categorical', not '{kind}'.")
            columns.append(_make(kinds[kind], entry))
        crosses = tuple(_make(Crossed, dict(c)) for c in data.get("crosses", ()))
        vocabulary = data.get("label_vocabulary")
        return cls(
            columns=tuple(columns),
            crosses=crosses,
            label=data.get("label"),
            head=data.get("head", "binary"),
            label_vocabulary=tuple(vocabulary) if vocabulary is not None else None,
        )

    def replace(self, **changes: Any) -> "FeatureSpec":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _plain(obj: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def _make(cls: type, entry: dict[str, Any]) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(entry) - fields)
    if unknown:
        raise InvalidArgumentError(f"Unknown {cls.__name__} field(s) {unknown}; expected some of {sorted(fields)}.")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})


def as_spec(features: Any) -> FeatureSpec:
    """Accept a :class:`FeatureSpec`, its dict form, or a path to its JSON.

    Raises:
        InvalidArgumentError: For anything else.
    """
    if isinstance(features, FeatureSpec):
        return features
    if isinstance(features, Mapping):
        return FeatureSpec.from_dict(features)
    if isinstance(features, str) and features.endswith(".json"):
        import json
        import pathlib

        return FeatureSpec.from_dict(json.loads(pathlib.Path(features).read_text(encoding="utf-8")))
    raise InvalidArgumentError(
        "features must be a FeatureSpec, its dict form or a .json path "
        f"(hub.data.table(...).spec infers one), not {type(features).__name__}."
    )


def embedding_dim(cardinality: int) -> int:
    """Rule-of-thumb embedding width: ``6 * n ** 0.25``, between 2 and 32."""
    return int(min(32, max(2, round(6 * math.pow(max(cardinality, 1), 0.25)))))


def infer_spec(
    frame,
    label: str | None = None,
    *,
    head: str | None = None,
    max_vocabulary: int = 10_000,
    hash_buckets: int = 10_000,
    crosses: Iterable[Crossed] = (),
    exclude: Iterable[str] = (),
) -> FeatureSpec:
    """Infer a spec from a pandas DataFrame: numbers are numeric, the rest categorical.

    Args:
        frame: The training data.
        label: Target column (left out of the inputs).
        head: Force a head; otherwise strings/bools/two values mean binary,
            up to 20 distinct integers multiclass, other numbers regression.
        max_vocabulary: Above this many distinct values a column is hashed.
        hash_buckets: Buckets of hashed columns.
        crosses: Crosses to add.
        exclude: Columns to leave out.

    Returns:
        A :class:`FeatureSpec`.
    """
    import pandas as pd

    skip = set(exclude) | ({label} if label else set())
    columns: list[Column] = []
    for name in frame.columns:
        if name in skip:
            continue
        series = frame[name]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            distinct = int(series.nunique(dropna=True))
            if distinct > max_vocabulary:
                columns.append(Categorical(str(name), hash_buckets=hash_buckets, embedding_dim=embedding_dim(hash_buckets)))
            else:
                columns.append(Categorical(str(name), embedding_dim=embedding_dim(distinct + 1)))
        else:
            columns.append(Numeric(str(name)))
    label_vocabulary = None
    if label is not None:
        if label not in frame.columns:
                raise unknown("label column", label, [str(c) for c in frame.columns])
        target = frame[label].dropna()
        values = sorted(target.unique().tolist(), key=str)
        numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
        if head is None:
            if len(values) <= 2:
                head = "binary"
            elif numeric and not (pd.api.types.is_integer_dtype(target) and len(values) <= 20):
                head = "regression"
            else:
                head = "multiclass"
        if head != "regression":
            label_vocabulary = tuple(values)
    return FeatureSpec(
        columns=tuple(columns),
        crosses=tuple(crosses),
        label=label,
        head=head or "binary",
        label_vocabulary=label_vocabulary,
    )


def frame_from(data: Any, names: Iterable[str] | None = None, limit: int | None = None):
    """Raw columns for adapting the preprocessing layers, as a pandas DataFrame.

    Args:
        data: A DataFrame, a dict of arrays, a CSV/parquet path, or a
            ``tf.data`` dataset of feature dicts (or ``(features, label)``).
        names: Columns to keep.
        limit: Read at most this many rows from a dataset.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, Mapping):
        frame = pd.DataFrame({k: np.asarray(v).reshape(len(v), -1)[:, 0] for k, v in data.items()})
    elif isinstance(data, str) or hasattr(data, "__fspath__"):
        frame = read_frame(data)
    elif getattr(data, "frame", None) is not None:
        frame = data.frame
    elif hasattr(data, "as_numpy_iterator"):
        chunks: dict[str, list] = {}
        rows = 0
        for element in data.as_numpy_iterator():
            features = element[0] if isinstance(element, tuple) else element
            for key, value in features.items():
                chunks.setdefault(key, []).append(np.asarray(value).reshape(len(value), -1)[:, 0])
            rows += len(next(iter(features.values())))
            if limit and rows >= limit:
                break
        frame = pd.DataFrame({k: _decode(np.concatenate(v)) for k, v in chunks.items()})
    else:
        raise InvalidArgumentError(
            f"data must be a DataFrame, a dict of arrays, a CSV/parquet path or a tf.data dataset, not {type(data).__name__}."
        )
    if names is not None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataError(f"The data has no column {missing[0]!r}; it has {[str(c) for c in frame.columns]}.")
        frame = frame[list(names)]
    return frame


def _decode(values):
    if values.dtype.kind == "S":
        return values.astype(str)
    return values


def raw_features(spec_or_model: Any, features: Any) -> dict[str, Any]:
    """Check and convert raw features into the arrays the model takes.

    Missing numbers become NaN (the model fills them), missing categories the
    empty string (the model treats them as unknown). Columns the model does
    not use are ignored.

    Args:
        spec_or_model: The :class:`FeatureSpec`, or a built model taking a dict of named columns.
        features: A DataFrame or a dict of column -> array-like (or scalars for one row).

    Returns:
        A dict of numpy arrays, one per model input, each of shape ``(batch,)``.

    Raises:
        DataError: Naming the column that is absent or has the wrong type.
    """
    import numpy as np
    import pandas as pd

    kinds = _input_kinds(spec_or_model)
    if isinstance(features, pd.DataFrame):
        source = {str(k): features[k].to_numpy() for k in features.columns}
    elif isinstance(features, Mapping):
        source = dict(features)
    else:
        raise DataError(f"Features must be a DataFrame or a dict of columns, not {type(features).__name__}.")
    out = {}
    for name, kind in kinds.items():
        if name not in source:
            raise DataError(f"Column '{name}' is missing from the input; the model needs {sorted(kinds)}.")
        values = np.asarray(source[name])
        values = values.reshape(-1) if values.ndim else values.reshape(1)
        if kind == "float32" and values.dtype.kind in "fiu":
            out[name] = values.astype("float32")  # fast path: already numbers (NaN = missing)
            continue
        if kind == "string" and values.dtype.kind == "U":
            out[name] = values.astype(object)
            continue
        values = values.astype(object)
        if kind == "float32":
            out[name] = _to_float(name, values)
        elif kind == "int64":
            out[name] = _to_int(name, values)
        else:
            out[name] = _to_string(name, values)
    return out


def _input_kinds(spec_or_model: Any) -> dict[str, str]:
    if isinstance(spec_or_model, FeatureSpec):
        return {
            c.name: (c.dtype if isinstance(c, Categorical) else "float32") for c in spec_or_model.columns
        }
    inputs = spec_or_model.input
    if not isinstance(inputs, Mapping):
        raise InvalidArgumentError("The model does not take a dict of named columns; pass a FeatureSpec or a tabular model built from one.")
    return {name: str(tensor.dtype) for name, tensor in inputs.items()}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _to_float(name: str, values):
    import numpy as np

    out = np.empty(len(values), dtype="float32")
    for i, value in enumerate(values):
        if _missing(value) or (isinstance(value, str) and value.strip() in ("", "?")):
            out[i] = np.nan
        elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise DataError(
                f"Column '{name}' expects numbers, but row {i} holds {value!r} ({type(value).__name__}); "
                "convert the column to numbers or leave the value empty."
            )
        else:
            out[i] = value
    return out


def _to_int(name: str, values):
    import numpy as np

    out = np.empty(len(values), dtype="int64")
    for i, value in enumerate(values):
        if _missing(value):
            out[i] = -1
        elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            out[i] = value
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            out[i] = int(value)
        else:
            raise DataError(
                f"Column '{name}' expects integer categories, but row {i} holds {value!r} ({type(value).__name__})."
            )
    return out


def _to_string(name: str, values):
    import numpy as np

    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        if _missing(value):
            out[i] = MISSING_STRING
        elif isinstance(value, bytes):
            out[i] = value.decode("utf-8")
        elif isinstance(value, str):
            out[i] = value
        else:
            raise DataError(
                f"Column '{name}' expects strings (categories), but row {i} holds {value!r} ({type(value).__name__}); "
                "convert the column with astype(str) if its numbers are category codes."
            )
    return out
