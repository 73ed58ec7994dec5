"""Readers of foreign weight formats that never execute code from the file.

* :mod:`~hub_core.store.readers.pickle`: pickled numpy data through a restricted unpickler.
* :mod:`~hub_core.store.readers.numpy`: ``.npz``/``.npy`` files with ``allow_pickle=False``.
* :mod:`~hub_core.store.readers.budget`: the bytes a file may make a reader allocate (``HUB_CORE_MAX_WEIGHTS_BYTES``).
* :mod:`~hub_core.store.readers.hdf5`: weight files as ``{layer_name: [arrays]}`` (legacy Keras h5,
  Keras 3 ``.weights.h5``, layered ``.npz``).

The modules ``pickle`` and ``numpy`` here share their names with the standard
and third-party packages they wrap; every import in hub_core is absolute, so
``import pickle`` / ``import numpy`` inside them still mean the real packages.
None of them imports TensorFlow or Keras.
"""
