"""Weights of ``wide_deep``: saved hub artifacts, not published checkpoints.

No public pretrained Wide & Deep exists: a model is tied to its feature spec
and training data. "Weights" are therefore complete saved models (the
preprocessing adapted from the data included): a run directory written by
``hub.fine_tune``/``hub.train``, a ``.keras`` file, or a catalog weight set
whose file is such a ``.keras`` artifact (URL plus sha256, fetched and
verified by :mod:`hub_core.store.download`).
"""

from __future__ import annotations

import pathlib

from hub_core.hub.plugin import WeightsRef

ARTIFACT_FORMAT = "hub_keras"


def load_artifact(ref: WeightsRef):
    """Open the saved Wide & Deep model that ``ref`` points to.

    Args:
        ref: A catalog weight set (``.keras`` file by URL and sha256), a run
            directory, a ``.keras`` path or a URL.

    Returns:
        The ``keras.Model``, taking raw feature dicts.

    Raises:
        WeightsError: When the file is not a saved Wide & Deep model.
    """
    from hub_core import saving
    from hub_core.errors import DataError, WeightsError

    import hub_plugins.wide_deep.model  # noqa: F401  (registers the custom layers)

    local = pathlib.Path(ref.location) if ref.location and "://" not in ref.location else None
    try:
        if local is not None and local.is_dir():
            model = saving.open_saved(local)
        else:
            path = ref.fetch()
            if path.suffix != ".keras":
                raise WeightsError(
                    f"Weights '{ref.label}' are {path.name}; wide_deep loads a saved model: a run directory, "
                    "a .keras file or a catalog artifact of format 'hub_keras'."
                )
            model = saving.load_keras(path)
    except DataError as error:
        raise WeightsError(str(error)) from error
    if not any(layer.name == "core" for layer in model.layers) or not isinstance(model.input, dict):
        raise WeightsError(
            f"Weights '{ref.label}' hold a model that is not a hub Wide & Deep model (no 'core' layer over named columns)."
        )
    return model
