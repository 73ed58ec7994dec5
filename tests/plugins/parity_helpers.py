"""Published-weights parity against keras.applications, shared by the plugin tests.

The check follows the published files' path end to end: a keras.applications
model (with every weight randomised, so a swapped or misplaced array shows) is
written in the legacy h5 layout of the keras-applications files, served over
HTTP, loaded through ``hub.load(name, weights=url)``, and both models run on
real photos.
"""

from __future__ import annotations

import numpy as np

from hub_core.testing import randomize_statistics
from image_helpers import photo_batch, write_legacy_h5

# Max abs difference allowed between keras.applications and the hub (float32).
ATOL = 1e-5


def assert_parity(reference, hub_name: str, server, *, size: int, preprocess, **build_kwargs):
    """Load ``reference``'s weights into ``hub_name`` through a served legacy h5 and compare outputs.

    Args:
        reference: A keras.applications model built with ``weights=None``.
        hub_name: The hub model name.
        server: The test ``FileServer``.
        size: Image height and width of both models.
        preprocess: keras.applications' ``preprocess_input`` of the family.
        **build_kwargs: Passed to ``hub.load`` (``include_top``, ``input_shape``...).

    Returns:
        The hub model.
    """
    import hub_core as hub
    from hub_core.hub import registry

    randomize_statistics(reference)
    file_name = f"{hub_name}_{'top' if build_kwargs.get('include_top', True) else 'notop'}.h5"
    write_legacy_h5(reference, server.directory / file_name)
    model = hub.load(hub_name, weights=server.url(file_name), **build_kwargs)
    assert server.count(file_name) == 1

    images = photo_batch(size, count=2)
    expected = np.asarray(reference.predict_on_batch(preprocess(images.copy())))
    actual = np.asarray(model.predict_on_batch(registry.get_plugin(model_plugin(hub_name)).preprocess(images)))
    assert actual.shape == expected.shape
    assert float(np.max(np.abs(actual - expected))) <= ATOL
    assert float(np.std(expected)) > 0.0  # the comparison is not between constants
    return model


def model_plugin(hub_name: str) -> str:
    """The plugin that provides ``hub_name``."""
    from hub_core.hub import catalog

    return catalog.resolve(hub_name)[0]


def structure(model) -> list[tuple[str, list[tuple[int, ...]]]]:
    """Keras layer classes and weight shapes in model order (what order-based h5 loading relies on).

    A hub_core subclass of a Keras layer (``FoldableConv2D``) counts as its Keras class.
    """
    return [
        (keras_class(layer), [tuple(w.shape) for w in layer.trainable_weights + layer.non_trainable_weights])
        for layer in model.layers
    ]


def keras_class(layer) -> str:
    """Name of ``layer``'s class, or of the Keras class it extends when hub_core defines it."""
    return next(cls.__name__ for cls in type(layer).__mro__ if not cls.__module__.startswith("hub_core."))
