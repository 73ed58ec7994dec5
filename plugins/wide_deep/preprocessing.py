"""The UCI Adult feature spec of the Wide & Deep census example.

The spec machinery itself (:class:`~hub_core.tabular.features.FeatureSpec`, the
column kinds, inference and raw-input checks) is generic and lives in
:mod:`hub_core.tabular.features`. This module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

from hub_core.tabular.features import Categorical, Crossed, FeatureSpec, Numeric


def adult_spec(label: str = "income") -> FeatureSpec:
    """The spec of TensorFlow's census example for UCI Adult (as read by ``hub.data.table``).

    Age is bucketised for the wide part and crossed with education and
    occupation; ``fnlwgt`` (a sampling weight) is left out.
    """
    categorical = ("workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country")
    return FeatureSpec(
        columns=(
            Numeric("age", boundaries=(18.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0)),
            Numeric("education_num"),
            Numeric("capital_gain", bins=8),
            Numeric("capital_loss", bins=8),
            Numeric("hours_per_week"),
            *(Categorical(name, embedding_dim=8) for name in categorical),
        ),
        crosses=(
            Crossed(("education", "occupation"), hash_buckets=1000),
            Crossed(("age", "education", "occupation"), hash_buckets=1000),
            Crossed(("native_country", "occupation"), hash_buckets=1000),
        ),
        label=label,
        head="binary",
        label_vocabulary=("<=50K", ">50K"),
    )
