"""Serving speed of a saved Wide & Deep model on raw feature dicts, against pandas preprocessing.

Both paths start from the same request: a dict of raw column arrays (UCI Adult test rows).

* ``saved model``: the reloaded ``.keras`` file, preprocessing inside, scored with
  ``predict_on_batch`` (the in-process serving call).
* ``pandas + predict``: the same weights scored the pre-Keras-3 way: the request becomes a
  DataFrame, categories are looked up with ``Series.map``, numbers filled/normalised/bucketised
  with numpy, crosses hashed (with the model's own ``HashedCrossing`` layers: pandas has no
  FarmHash), then the core model runs through ``model.predict``. ``pandas + predict_on_batch``
  isolates the preprocessing cost from ``predict``'s per-call overhead.

The two paths must agree (max abs difference reported). Reports examples/s at batch 1, 64 and
1024, p50/p99 latency at batch 1, and the latency of a batch of 50 (the paper: ~14 ms with
multithreading). Run: ``python benchmarks/bench_wide_deep_serving.py``
"""

from __future__ import annotations

import statistics
import tempfile
import timeit

import numpy as np

from common import print_table, write_result

BATCHES = (1, 50, 64, 1024)
PAPER_MS_BATCH_50 = 14.0


class PandasPreprocessor:
    """The model's preprocessing re-done with pandas/numpy from its adapted layers."""

    def __init__(self, model, spec):
        from hub_core.tabular.features import Numeric

        self.spec = spec
        self.model = model
        self.numeric, self.lookups = {}, {}
        for column in spec.columns:
            name = column.name
            if isinstance(column, Numeric):
                norm = model.get_layer(f"normalize_{name}")
                mean = float(np.asarray(norm.mean).reshape(-1)[0])
                std = max(float(np.sqrt(np.asarray(norm.variance).reshape(-1)[0])), 1e-7)
                bucket = model.get_layer(f"bucketize_{name}").bin_boundaries if column.bucketized else None
                self.numeric[name] = (model.get_layer(f"fill_{name}").value, mean, std, bucket)
            else:
                vocabulary = model.get_layer(f"lookup_{name}").get_vocabulary(include_special_tokens=False)
                self.lookups[name] = {token: index + 1 for index, token in enumerate(vocabulary)}  # 0 = unknown
        self.crosses = [(c, [model.get_layer(f"cross_{c.name}_{i}") for i in range(1, len(c.columns) - 1)],
                         model.get_layer(f"cross_{c.name}")) for c in spec.crosses]

    def __call__(self, request: dict) -> dict:
        import pandas as pd

        frame = pd.DataFrame(request)
        encoded = {}
        for name, (fill, mean, std, bucket) in self.numeric.items():
            values = frame[name].astype("float32").fillna(fill).to_numpy()
            encoded[name] = ((values - mean) / std).astype("float32").reshape(-1, 1)
            if bucket is not None:
                encoded[f"{name}_bucket"] = np.digitize(values, bucket).astype("int64").reshape(-1, 1)
        for name, table in self.lookups.items():
            encoded[name] = frame[name].map(table).fillna(0).to_numpy(dtype="int64").reshape(-1, 1)
        for cross, inner, final in self.crosses:
            ids = [encoded[f"{c}_bucket" if c in self.numeric else c] for c in cross.columns]
            for layer in inner:
                ids = [np.asarray(layer(ids[:2])), *ids[2:]]
            encoded[cross.name] = np.asarray(final(ids)).astype("int64")
        return encoded


def timings(fn, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls, after one warm-up call."""
    fn()
    return timeit.repeat(fn, number=1, repeat=repeats)


def main() -> None:
    import keras

    from hub_core import tabular
    from hub_core.tabular.features import raw_features
    from hub_plugins.wide_deep.preprocessing import adult_spec

    import hub_core as hub

    spec = adult_spec()
    train = tabular.read_frame(tabular.uci_adult("train"), label="income")
    test = tabular.read_frame(tabular.uci_adult("test"), label="income")
    keras.utils.set_random_seed(0)
    model = hub.load("wide_deep", weights=None, features=spec, data=train)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(f"{tmp}/wd.keras")
        saved = keras.saving.load_model(f"{tmp}/wd.keras")
    core = saved.get_layer("core")
    pandas_pre = PandasPreprocessor(saved, spec)
    requests = {b: raw_features(saved, test.iloc[:b]) for b in BATCHES}
    check = raw_features(saved, test.iloc[:2048])
    difference = float(np.max(np.abs(saved.predict_on_batch(check) - core.predict(pandas_pre(check), verbose=0))))

    paths = {
        "saved model (predict_on_batch)": lambda r: saved.predict_on_batch(r),
        "pandas + predict": lambda r: core.predict(pandas_pre(r), verbose=0),
        "pandas + predict_on_batch": lambda r: core.predict_on_batch(pandas_pre(r)),
    }
    rows, latency = [], {}
    for path, fn in paths.items():
        row = {"path": path}
        for batch in BATCHES:
            samples = timings(lambda: fn(requests[batch]), repeats=300 if batch == 1 else (50 if batch <= 64 else 20))
            median = statistics.median(samples)
            if batch == 50:
                row["batch50_ms"] = median * 1e3
            else:
                row[f"ex_per_s_b{batch}"] = batch / median
            if batch == 1:
                ordered = sorted(samples)
                row["p50_ms_b1"] = median * 1e3
                row["p99_ms_b1"] = ordered[int(0.99 * (len(ordered) - 1))] * 1e3
        rows.append(row)
        latency[path] = row["p50_ms_b1"]
    anchor = rows[1]
    for row in rows:
        row["speedup_b1_vs_pandas_predict"] = anchor["p50_ms_b1"] / row["p50_ms_b1"]
        row["speedup_b1024_vs_pandas_predict"] = row["ex_per_s_b1024"] / anchor["ex_per_s_b1024"]
    print_table(rows, ["path", "ex_per_s_b1", "ex_per_s_b64", "ex_per_s_b1024", "p50_ms_b1", "p99_ms_b1", "batch50_ms",
                       "speedup_b1_vs_pandas_predict", "speedup_b1024_vs_pandas_predict"])
    print(f"max |saved - pandas path| = {difference:.2e};  paper: ~{PAPER_MS_BATCH_50} ms per batch of 50")
    path = write_result("wide_deep_serving", rows, max_abs_difference=difference, paper_ms_batch_50=PAPER_MS_BATCH_50,
                        params=saved.count_params(), hidden_units=[1024, 512, 256])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
