"""Two worker processes on 127.0.0.1 with TF_CONFIG (MultiWorkerMirroredStrategy) train like one process.

Both workers run ``hub.train(..., distribution="auto")`` on the same data with
a global batch of 32 (16 per worker). Their final weights must be identical
to each other and equal, within 1e-5, to a single process trained with the
same global batch of 32.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import keras
    import hub_core as hub
    from sklearn.datasets import load_digits

    run_dir, out = sys.argv[1], sys.argv[2]
    digits = load_digits()
    x = digits.data[:256].astype("float32") / 16.0
    y = digits.target[:256].astype("int32")

    def build():
        inputs = keras.Input((64,))
        h = keras.layers.Dense(16, activation="relu", name="fc")(inputs)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(h))

    train = hub.data.from_arrays(x, y, batch_size=32, shuffle=False)
    result = hub.train(build, train, epochs=2, optimizer="sgd", learning_rate=0.1, run_dir=run_dir, seed=0, verbose=0)
    np.savez(out, *result.model.get_weights())
    json.dump({"strategy": type(result.model.distribute_strategy).__name__, "run_dir": str(result.run_dir)},
              open(out + ".json", "w"))
    """
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def weights(path) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def test_two_workers_match_each_other_and_a_single_process(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    base_env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    base_env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = dict(base_env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "run"), str(tmp_path / f"worker{index}.npz")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "single_run"), str(tmp_path / "single.npz")],
                            env=base_env, capture_output=True, text=True, timeout=600)
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]

    infos = [json.loads((tmp_path / f"worker{i}.npz.json").read_text()) for i in range(2)]
    assert [info["strategy"] for info in infos] == ["CollectiveAllReduceStrategy"] * 2  # MultiWorkerMirroredStrategy
    assert infos[0]["run_dir"] == str(tmp_path / "run") and infos[1]["run_dir"] == "None"  # only the chief writes
    assert (tmp_path / "run" / "model.keras").is_file()
    first, second, alone = weights(tmp_path / "worker0.npz"), weights(tmp_path / "worker1.npz"), weights(tmp_path / "single.npz")
    for a, b, c in zip(first, second, alone, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-5)
    assert not np.allclose(alone[0], 0)
