"""Tabular data: the feature spec of tabular models (:mod:`~hub_core.tabular.features`), reading tables
(:mod:`~hub_core.tabular.frames`) and table datasets (:mod:`~hub_core.tabular.tables`).

Example:
    >>> import hub_core as hub
    >>> train = hub.data.table(hub.tabular.uci_adult("train"), label="income", batch_size=256)
    >>> model = hub.load("wide_deep", features=train.spec, data=train)
"""

from hub_core.tabular.features import (Categorical, Crossed, FeatureSpec, Numeric, as_spec, frame_from, infer_spec,
                                       raw_features)
from hub_core.tabular.frames import read_frame, uci_adult
from hub_core.tabular.tables import encode_labels, features_for_tf, table

__all__ = ["Categorical", "Crossed", "FeatureSpec", "Numeric", "as_spec", "encode_labels", "features_for_tf",
           "frame_from", "infer_spec", "raw_features", "read_frame", "table", "uci_adult"]
