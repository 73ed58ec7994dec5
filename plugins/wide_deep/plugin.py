"""The ``wide_deep`` plugin: glue between the hub and the Wide & Deep builder."""

from __future__ import annotations

from typing import Any, Sequence

from hub_core.hub.plugin import ModelPlugin, Paper, SampleBatch, Variant, WeightsRef

PAPER_UNITS = (1024, 512, 256)


class WideDeepPlugin(ModelPlugin):
    """Wide & Deep learning for tabular data: a linear model and an MLP trained jointly."""

    name = "wide_deep"
    task = "tabular"
    description = "Wide & Deep: linear model over sparse and crossed features plus an MLP over embeddings."
    paper = Paper(
        title="Wide & Deep Learning for Recommender Systems",
        url="https://arxiv.org/abs/1606.07792",
        authors="Cheng, Koc, Harmsen, Shaked, Chandra, Aradhye, Anderson, Corrado, Chai, Ispir, et al.",
        year=2016,
    )
    license = "Apache-2.0"
    default_variant = "wide_deep"
    capabilities = frozenset({"tabular", "raw-inputs", "optimizer:split"})
    variants = (
        Variant(
            name="wide_deep",
            description="Wide & Deep from a feature spec (hidden units 1024-512-256); weights are saved hub models",
            options={"hidden_units": PAPER_UNITS},
        ),
    )

    def build(
        self,
        variant: Variant,
        *,
        weights: WeightsRef | None = None,
        features: Any = None,
        data: Any = None,
        hidden_units: Sequence[int] | None = None,
        dropout: float = 0.0,
        wide_only: bool = False,
        deep_only: bool = False,
        num_classes: int | None = None,
        classes: int | None = None,
    ):
        """Build from ``features`` (a spec) adapted on ``data``, or open saved ``weights``.

        Args:
            variant: The variant.
            weights: A saved model (run directory, ``.keras`` file, or catalog artifact).
            features: The feature spec, its dict form or a JSON path.
            data: Training data to adapt the preprocessing layers.
            hidden_units: Deep MLP widths (default 1024, 512, 256).
            dropout: Dropout in the deep MLP.
            wide_only: Only the linear part.
            deep_only: Only the MLP.
            num_classes: Classes of a multiclass head without a label vocabulary.
            classes: What the training loop passes for ``num_classes`` (checked against the spec).

        Raises:
            InvalidArgumentError: When neither or both of ``features`` and ``weights`` are given,
                or ``classes`` does not fit the spec's head.
        """
        from hub_core.errors import InvalidArgumentError

        if features is None and getattr(data, "spec", None) is not None:
            features = data.spec  # a hub.data.table dataset carries its spec

        if weights is not None:
            if features is not None or data is not None:
                raise InvalidArgumentError(
                    "weights= opens a complete saved Wide & Deep model; drop features=/data=, or pass weights=None to build anew."
                )
            from hub_plugins.wide_deep.weights import load_artifact

            return load_artifact(weights)
        if features is None:
            raise InvalidArgumentError(
                "wide_deep needs features= (a FeatureSpec; hub.data.table(path, label=...).spec infers one) "
                "and data= to adapt it, or weights= pointing to a saved model."
            )
        from hub_plugins.wide_deep.model import build_wide_deep
        from hub_core.tabular.features import as_spec

        spec = as_spec(features)
        if classes is not None:
            if spec.head == "multiclass":
                num_classes = num_classes or classes
            elif spec.head == "binary" and classes not in (1, 2):
                raise InvalidArgumentError(
                    f"The spec has a binary head but {classes} classes were asked for; set head='multiclass' in the spec."
                )
        return build_wide_deep(
            spec,
            data,
            hidden_units=tuple(hidden_units or variant.options["hidden_units"]),
            dropout=dropout,
            wide_only=wide_only,
            deep_only=deep_only,
            num_classes=num_classes,
            name=variant.name,
        )

    def optimizer(self, name: str, *, learning_rate: Any) -> Any | None:
        """``"split"``: FTRL with L1 on the wide part, Adam at ``learning_rate`` on the deep part.

        Args:
            name: The requested optimizer name.
            learning_rate: The deep part's learning rate (a float or a schedule).

        Returns:
            A :class:`~hub_plugins.wide_deep.model.SplitOptimizer` for ``"split"``, else None.
        """
        if name != "split":
            return None
        from hub_plugins.wide_deep.model import split_optimizer

        return split_optimizer(deep="adam", deep_learning_rate=learning_rate)

    def blocks(self, model) -> list[list[str]]:
        """One block: the trainable core (the preprocessing layers are never trained)."""
        return [["core"]]

    def sample_batch(self, variant: Variant, *, small: bool = True, batch_size: int = 4, seed: int = 0) -> SampleBatch:
        """Random raw rows over every column kind, with binary targets.

        The columns are numbers (one bucketised, one with missing values),
        string, integer and hashed categories, and a cross of age buckets and job.
        """
        import numpy as np
        import pandas as pd

        from hub_core.tabular.features import Categorical, Crossed, FeatureSpec, Numeric

        rng = np.random.default_rng(seed)
        rows = max(64, batch_size)
        frame = pd.DataFrame(
            {
                "age": rng.normal(40, 12, rows).round(),
                "hours": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(40, 10, rows)),
                "job": rng.choice(["clerk", "nurse", "driver", "teacher"], rows).astype(object),
                "zone": rng.integers(1, 6, rows),
                "city": rng.choice([f"city{i}" for i in range(30)], rows).astype(object),
            }
        )
        spec = FeatureSpec(
            columns=(
                Numeric("age", boundaries=(25.0, 35.0, 45.0, 55.0)),
                Numeric("hours"),
                Categorical("job", embedding_dim=3),
                Categorical("zone", dtype="int64", embedding_dim=2),
                Categorical("city", hash_buckets=16, embedding_dim=3),
            ),
            crosses=(Crossed(("age", "job"), hash_buckets=32),),
            label="target",
            head="binary",
            label_vocabulary=(0, 1),
        )
        batch = frame.iloc[:batch_size]
        inputs = {c: batch[c].to_numpy() for c in frame.columns}
        targets = (batch["age"].to_numpy() > 40).astype("float32")
        kwargs: dict[str, Any] = {"features": spec, "data": frame}
        if small:
            kwargs["hidden_units"] = (8, 4)
        return SampleBatch(inputs=inputs, targets=targets, build_kwargs=kwargs, loss="binary_crossentropy")
