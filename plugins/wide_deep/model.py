"""The Wide & Deep builder (Cheng et al., 2016) in plain Keras 3.

The model is two stages in one ``keras.Model``:

1. *Preprocessing* (Keras preprocessing layers adapted from the training
   data): ``StringLookup``/``IntegerLookup``/``Hashing`` for categories,
   missing-value filling, ``Normalization`` and ``Discretization`` for numbers,
   ``HashedCrossing`` for crosses. It takes a dict of raw columns.
2. The *core* (:func:`build_core`, a nested model named ``core``): a linear
   ``wide`` layer over one-hot categories, buckets and crosses (plus the
   normalised numbers), and a ``deep`` MLP over embeddings and normalised
   numbers. Their logits are summed before the sigmoid/softmax.

:class:`SplitOptimizer` trains the wide layer with one optimizer (FTRL with
L1, as in the paper) and everything else with another (Adagrad).

Raw-input handling inside the model: a category not seen in the training
data maps to the lookup's single out-of-vocabulary id (a zero weight in the
wide part); a missing category (the empty string) is its own category when
the training data had missing values, else unknown; a missing number (NaN)
is replaced by the training mean (``FillMissing``). Wrong types and absent
columns are rejected, naming the column, by
:func:`~hub_core.tabular.features.raw_features`.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from hub_core import _keras_compat as compat
from hub_core.tabular.features import Categorical, FeatureSpec, Numeric, frame_from, raw_features

PACKAGE = "hub_wide_deep"
WIDE = "wide"
OUTPUT_ACTIVATION = {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear"}
ADAPT_ROWS = 200_000
CROSS_SPACE = 2**31 - 1


@keras.saving.register_keras_serializable(package=PACKAGE)
class FillMissing(keras.layers.Layer):
    """Replace NaN with a constant (the training mean by default).

    Args:
        value: The fill value.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        return ops.where(ops.isnan(inputs), ops.full_like(inputs, self.value), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class WideLinear(keras.layers.Layer):
    """A linear model over sparse ids and dense values: the paper's wide part.

    ``logits = sum_i W_i[id_i] + x @ V + b`` where each ``W_i`` is the weight
    row of a one-hot feature. All sparse weights live in one table (offsets
    per feature), initialised to zero like a linear model.

    Args:
        sizes: Number of ids of each sparse input, in call order.
        num_dense: Width of the dense input (0 for none).
        units: Output logits.
        **kwargs: Standard layer arguments.

    Call arguments:
        inputs: A list: one int tensor ``(batch, 1)`` per sparse feature,
            then the dense tensor ``(batch, num_dense)`` if ``num_dense``.
    """

    def __init__(self, sizes: Sequence[int], num_dense: int = 0, units: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.sizes = [int(s) for s in sizes]
        self.num_dense = int(num_dense)
        self.units = int(units)
        self._offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]

    def build(self, input_shape):
        if self.sizes:
            self.sparse_kernel = self.add_weight(
                name="sparse_kernel", shape=(sum(self.sizes), self.units), initializer="zeros"
            )
        if self.num_dense:
            self.dense_kernel = self.add_weight(name="dense_kernel", shape=(self.num_dense, self.units), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        inputs = list(inputs)
        logits = self.bias
        if self.sizes:
            ids = [ops.reshape(ops.cast(x, "int32"), (-1, 1)) + offset for x, offset in zip(inputs, self._offsets)]
            rows = ops.take(self.sparse_kernel, ops.concatenate(ids, axis=1), axis=0)
            logits = logits + ops.sum(rows, axis=1)
        if self.num_dense:
            logits = logits + ops.matmul(ops.cast(inputs[-1], self.compute_dtype), self.dense_kernel)
        return logits

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sizes": self.sizes, "num_dense": self.num_dense, "units": self.units}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SplitOptimizer(keras.optimizers.Optimizer):
    """Two optimizers in one: ``wide`` for the wide layer, ``deep`` for the rest.

    A variable belongs to the wide part when the first component of its path
    starts with ``wide_prefix`` (the :class:`WideLinear` layer is named
    ``"wide"``). ``learning_rate`` reads and sets the deep optimizer's rate.

    Args:
        wide: Optimizer of the wide part (e.g. ``keras.optimizers.Ftrl`` with L1).
        deep: Optimizer of the deep part (e.g. ``keras.optimizers.Adagrad``).
        wide_prefix: Layer-name prefix that marks wide variables.
        name: Optimizer name.
    """

    def __init__(self, wide, deep, wide_prefix: str = WIDE, name: str = "split_optimizer", **kwargs: Any):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.wide = keras.optimizers.get(wide)
        self.deep = keras.optimizers.get(deep)
        self.wide_prefix = wide_prefix

    def is_wide(self, variable) -> bool:
        """Whether ``variable`` is trained by the wide optimizer."""
        return variable.path.split("/")[0].startswith(self.wide_prefix)

    def build(self, variables):
        # Parts are recomputed from paths, never stored: lists of model variables set as
        # attributes would be tracked as optimizer variables.
        for optimizer, wide in ((self.wide, True), (self.deep, False)):
            part = [v for v in variables if self.is_wide(v) == wide]
            if part and not optimizer.built:
                optimizer.build(part)
        super().build(variables)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            # JAX's stateless step calls apply(grads) alone: the variables built with are kept only privately
            trainable_variables = compat.built_variables(self)
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        parts: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
        for grad, variable in zip(grads, trainable_variables):
            part = parts[self.is_wide(variable)]
            part[0].append(grad)
            part[1].append(variable)
        for optimizer, (part_grads, part_vars) in ((self.wide, parts[True]), (self.deep, parts[False])):
            if part_vars:
                optimizer.apply(part_grads, part_vars)
        self.iterations.assign_add(1)

    @property
    def variables(self):
        return super().variables + self.wide.variables + self.deep.variables

    def save_own_variables(self, store):
        store["0"] = ops.convert_to_numpy(self.iterations)

    def load_own_variables(self, store):
        if "0" in store:
            self.iterations.assign(store["0"])

    @property
    def learning_rate(self):
        return self.deep.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "deep"):
            self.deep.learning_rate = value

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wide": keras.optimizers.serialize(self.wide),
            "deep": keras.optimizers.serialize(self.deep),
            "wide_prefix": self.wide_prefix,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["wide"] = keras.optimizers.deserialize(config["wide"], custom_objects=custom_objects)
        config["deep"] = keras.optimizers.deserialize(config["deep"], custom_objects=custom_objects)
        return cls(**config)


def split_optimizer(
    wide: str = "ftrl",
    deep: str = "adagrad",
    *,
    wide_learning_rate: float | None = None,
    deep_learning_rate: float | None = None,
    l1: float = 0.01,
    l2: float = 0.0,
) -> SplitOptimizer:
    """The paper's optimizer: FTRL with L1 on the wide part, Adagrad (or Adam) on the deep part.

    Args:
        wide: ``"ftrl"`` or any Keras optimizer name.
        deep: ``"adagrad"``, ``"adam"`` or any Keras optimizer name.
        wide_learning_rate: Defaults to 0.1 for FTRL.
        deep_learning_rate: Defaults to 0.05 for Adagrad, 0.001 otherwise.
        l1: FTRL's L1 regularisation strength.
        l2: FTRL's L2 regularisation strength.

    Returns:
        A :class:`SplitOptimizer`.
    """
    if wide == "ftrl":
        wide_opt = keras.optimizers.Ftrl(
            learning_rate=wide_learning_rate or 0.1, l1_regularization_strength=l1, l2_regularization_strength=l2, name="wide_ftrl"
        )
    else:
        wide_opt = _optimizer(wide, wide_learning_rate or 0.001, "wide_" + wide)
    deep_rate = deep_learning_rate or (0.05 if deep == "adagrad" else 0.001)
    return SplitOptimizer(wide_opt, _optimizer(deep, deep_rate, "deep_" + deep))


def _optimizer(name: str, learning_rate: float, label: str):
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate, "name": label}})


def build_preprocessing(spec: FeatureSpec, frame) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """Raw inputs and the encoded tensors of the preprocessing stage.

    Args:
        spec: The feature spec.
        frame: Training data (pandas DataFrame) to adapt vocabularies, means and buckets.

    Returns:
        ``(inputs, encoded, sizes)``: the raw ``keras.Input`` per column, the
        encoded tensor per core input, and the number of ids of each sparse one.
    """
    import numpy as np

    columns = raw_features(spec, frame) if frame is not None else {}  # checked: wrong types name their column
    inputs: dict[str, Any] = {}
    encoded: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    for column in spec.columns:
        name = column.name
        values = columns.get(name)
        if isinstance(column, Numeric):
            inputs[name] = keras.Input(shape=(1,), dtype="float32", name=name)
            numbers = values
            fill = column.fill
            if fill is None:
                fill = float(np.nanmean(numbers)) if numbers is not None and np.isfinite(numbers).any() else 0.0
            filled = FillMissing(fill, name=f"fill_{name}")(inputs[name])
            normalize = keras.layers.Normalization(name=f"normalize_{name}")
            clean = np.where(np.isnan(numbers), fill, numbers) if numbers is not None else None
            _adapt_or_fail(normalize, clean, name)
            encoded[name] = normalize(filled)
            if column.bucketized:
                if column.boundaries:
                    bucketize = keras.layers.Discretization(bin_boundaries=list(column.boundaries), name=f"bucketize_{name}")
                else:
                    bucketize = keras.layers.Discretization(num_bins=column.bins, name=f"bucketize_{name}")
                    _adapt_or_fail(bucketize, clean, name)
                encoded[f"{name}_bucket"] = bucketize(filled)
                sizes[f"{name}_bucket"] = len(bucketize.bin_boundaries) + 1
        else:
            inputs[name] = keras.Input(shape=(1,), dtype=column.dtype, name=name)
            layer = _category_layer(column, values)
            encoded[name] = layer(inputs[name])
            sizes[name] = column.hash_buckets or layer.vocabulary_size()
    for cross in spec.crosses:
        ids = [encoded[_sparse_key(spec, c)] for c in cross.columns]
        # HashedCrossing takes two tensors: cross wider crosses pairwise, into a large space first.
        for i in range(1, len(ids) - 1):
            ids = [keras.layers.HashedCrossing(CROSS_SPACE, name=f"cross_{cross.name}_{i}")(ids[:2]), *ids[2:]]
        encoded[cross.name] = keras.layers.HashedCrossing(cross.hash_buckets, name=f"cross_{cross.name}")(ids)
        sizes[cross.name] = cross.hash_buckets
    return inputs, encoded, sizes


def _sparse_key(spec: FeatureSpec, name: str) -> str:
    return f"{name}_bucket" if isinstance(spec.column(name), Numeric) else name


def _category_layer(column: Categorical, values):
    """The lookup (or hashing) layer of a categorical column.

    An adapted vocabulary is written into the layer's config (adapt a scratch
    layer, then build the real one with ``vocabulary=``), so clones and
    ``.keras`` files carry it.
    """
    if column.hash_buckets:
        return keras.layers.Hashing(column.hash_buckets, name=f"hash_{column.name}")
    lookup = keras.layers.IntegerLookup if column.dtype == "int64" else keras.layers.StringLookup
    vocabulary = list(column.vocabulary) if column.vocabulary is not None else None
    if vocabulary is None:
        scratch = lookup(max_tokens=column.max_tokens)
        _adapt_or_fail(scratch, values, column.name)
        vocabulary = scratch.get_vocabulary(include_special_tokens=False)
    return lookup(vocabulary=vocabulary, name=f"lookup_{column.name}")


def _adapt_or_fail(layer, values, column: str) -> None:
    if values is None:
        from hub_core.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"Column '{column}' needs training data to adapt its preprocessing; pass data=DataFrame/path/"
            "hub.data.table(...) to hub.load, or give its vocabulary/boundaries in the spec."
        )
    layer.adapt(values.reshape(-1, 1))


def build_core(
    spec: FeatureSpec,
    sizes: dict[str, int],
    *,
    hidden_units: Sequence[int] = (1024, 512, 256),
    dropout: float = 0.0,
    wide: bool = True,
    deep: bool = True,
    units: int = 1,
    activation: str = "sigmoid",
) -> keras.Model:
    """The trainable core: encoded dict in, predictions out.

    Args:
        spec: The feature spec.
        sizes: Ids per sparse input (from :func:`build_preprocessing`).
        hidden_units: Widths of the deep MLP.
        dropout: Dropout rate after each hidden layer.
        wide: Include the wide part.
        deep: Include the deep part.
        units: Output width.
        activation: Output activation.
    """
    inputs: dict[str, Any] = {}
    for column in spec.columns:
        if isinstance(column, Numeric):
            inputs[column.name] = keras.Input(shape=(1,), dtype="float32", name=column.name)
    for name in sizes:
        inputs[name] = keras.Input(shape=(1,), dtype="int64", name=name)
    logits = []
    if wide:
        sparse = list(sizes)
        dense = [c.name for c in spec.columns if isinstance(c, Numeric) and not c.bucketized]
        wide_inputs = [inputs[n] for n in sparse]
        if dense:
            wide_inputs.append(_concat([inputs[n] for n in dense], "wide_dense_inputs"))
        logits.append(WideLinear([sizes[n] for n in sparse], len(dense), units, name=WIDE)(wide_inputs))
    if deep:
        parts = [inputs[c.name] for c in spec.columns if isinstance(c, Numeric)]
        embedded = [(c.name, c.embedding_dim) for c in spec.columns if isinstance(c, Categorical) and c.embedding_dim]
        embedded += [(c.name, c.embedding_dim) for c in spec.crosses if c.embedding_dim]
        for name, dim in embedded:
            vectors = keras.layers.Embedding(sizes[name], dim, name=f"embed_{name}")(inputs[name])
            parts.append(keras.layers.Reshape((dim,), name=f"flat_{name}")(vectors))
        if not parts:
            from hub_core.errors import InvalidArgumentError

            raise InvalidArgumentError("The deep part has no inputs: add numeric columns or categorical embedding_dim > 0.")
        x = _concat(parts, "deep_inputs")
        for i, width in enumerate(hidden_units):
            x = keras.layers.Dense(int(width), activation="relu", name=f"deep_hidden_{i + 1}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"deep_dropout_{i + 1}")(x)
        logits.append(keras.layers.Dense(units, name="deep_logits")(x))
    x = keras.layers.Add(name="logits")(logits) if len(logits) > 1 else logits[0]
    outputs = keras.layers.Activation(activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name="core")


def _concat(tensors: list, name: str):
    return keras.layers.Concatenate(name=name)(tensors) if len(tensors) > 1 else tensors[0]


def build_wide_deep(
    spec: FeatureSpec,
    data: Any = None,
    *,
    hidden_units: Sequence[int] = (1024, 512, 256),
    dropout: float = 0.0,
    wide_only: bool = False,
    deep_only: bool = False,
    num_classes: int | None = None,
    name: str = "wide_deep",
) -> keras.Model:
    """Build a Wide & Deep model whose preprocessing is adapted from ``data``.

    Args:
        spec: The feature spec.
        data: Training data to adapt the preprocessing layers (DataFrame,
            dict of arrays, CSV/parquet path or ``hub.data.table`` dataset).
        hidden_units: Widths of the deep MLP.
        dropout: Dropout rate in the deep MLP.
        wide_only: Build only the linear part.
        deep_only: Build only the MLP.
        num_classes: Output classes of a multiclass head without ``label_vocabulary``.
        name: Model name.

    Returns:
        A ``keras.Model`` taking a dict of raw columns and returning
        probabilities (binary: ``(batch, 1)``; multiclass: ``(batch, classes)``)
        or values (regression).

    Raises:
        InvalidArgumentError: For conflicting options or missing data.
    """
    from hub_core.errors import InvalidArgumentError

    if wide_only and deep_only:
        raise InvalidArgumentError("Pass at most one of wide_only=True and deep_only=True.")
    if dropout < 0 or dropout >= 1:
        raise InvalidArgumentError(f"dropout must be in [0, 1), not {dropout}.")
    units = num_classes if spec.head == "multiclass" and num_classes else spec.num_classes
    frame = frame_from(data, spec.names, limit=ADAPT_ROWS) if data is not None else None
    if frame is not None and len(frame) > ADAPT_ROWS:
        frame = frame.iloc[:ADAPT_ROWS]
    inputs, encoded, sizes = build_preprocessing(spec, frame)
    core = build_core(
        spec,
        sizes,
        hidden_units=hidden_units,
        dropout=dropout,
        wide=not deep_only,
        deep=not wide_only,
        units=units,
        activation=OUTPUT_ACTIVATION[spec.head],
    )
    outputs = core({k: encoded[k] for k in core.input})
    return keras.Model(inputs, outputs, name=name)
