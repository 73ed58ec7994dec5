"""``hub serve``: a local web catalog of the models and runs, with try-it inference.

A FastAPI app (:func:`hub_core.serve.app.create_app`) with Jinja2 pages and a JSON API:

* :mod:`~hub_core.serve.catalog_view`: the catalog as page data (models, broken plugins, clashes, model cards);
* :mod:`~hub_core.serve.runs`: run directories under the ``--runs`` folders, read as data (budgets, no traversal);
* :mod:`~hub_core.serve.models`: the bounded, thread-safe cache of loaded models and the try-it glue, through
  ``hub.predict``'s own path (:class:`hub_core.training.predict.Predictor`);
* :mod:`~hub_core.serve.server`: uvicorn in the foreground (``hub serve``) or in a background thread (tests,
  benchmarks).

Everything it needs comes with the ``serve`` extra: ``pip install "hub-core[serve]"``.
"""
