"""Tables as replayable, batched ``tf.data`` datasets of ``(raw feature dict, target)``.

:func:`table` reads a table (:mod:`hub_core.tabular.frames`), infers (or takes)
its feature spec (:mod:`hub_core.tabular.features`), encodes the label and
returns a dataset built by :func:`hub_core.data.arrays.from_arrays`, so it
replays exactly on resume. The dataset carries ``spec`` (the
:class:`~hub_core.tabular.features.FeatureSpec`), ``frame`` (the rows, to adapt
the model's preprocessing layers) and ``class_names``.

Example:
    >>> import hub_core as hub
    >>> train = hub.data.table(hub.tabular.uci_adult("train"), label="income", batch_size=256)
    >>> model = hub.load("wide_deep", features=train.spec, data=train)
"""

from __future__ import annotations

from typing import Any, Sequence

from hub_core.data.arrays import from_arrays
from hub_core.errors import DataError, InvalidArgumentError
from hub_core.tabular.features import as_spec, infer_spec, raw_features
from hub_core.tabular.frames import read_frame


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
        dataset = from_arrays(
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
