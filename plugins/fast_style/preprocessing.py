"""Preprocessing of the fast_style network: float32 RGB pixels in [0, 255].

The transform network rescales internally, so preprocessing is only a
conversion to float32. Reading, resizing and writing images is
:mod:`hub_core.vision.imaging`'s (``load_pixels``, ``save_image``). Imports numpy
lazily; never TensorFlow or Keras.
"""

from __future__ import annotations


def preprocess(images):
    """A copy of ``images`` as float32 pixels in [0, 255] (what the network takes)."""
    import numpy as np

    return np.array(images, dtype="float32", copy=True)
