"""Resume after a crash: SIGKILL mid-epoch, restart the same command, same final weights.

The training child process kills itself with SIGKILL after a fixed number of
training steps (only when ``HUB_TEST_KILL_AT`` is set), i.e. in the middle of
an epoch and between two step checkpoints. The same command is then started
again. Tolerance: final weights within 1e-6 absolute of an uninterrupted run
(in practice they are bit-identical: same batches, same dropout and
augmentation randomness, same optimizer and metric state).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import numpy as np
    import keras
    import hub_core as hub

    run_dir, out = sys.argv[1], sys.argv[2]
    kill_at = int(os.environ.get("HUB_TEST_KILL_AT", "0"))

    class Killer(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            Killer.steps += 1
            if kill_at and Killer.steps == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.images[:208, :, :, None] * 16).astype("float32")
    y = digits.target[:208].astype("int32")

    def build():
        inputs = keras.Input((8, 8, 1))
        h = keras.layers.Rescaling(1 / 255.0)(inputs)
        h = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(h)
        h = keras.layers.BatchNormalization(name="bn")(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dropout(0.3)(h)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(h))

    train = hub.data.from_arrays(x, y, batch_size=16, seed=3, augment={"flip": True, "crop": 0.2, "brightness": 0.1})
    result = hub.train(build, train, (x[:64], y[:64]), epochs=3, checkpoint_every=3, run_dir=run_dir,
                       callbacks=[Killer()], seed=7, verbose=0)
    np.savez(out, *result.model.get_weights())
    json.dump({"resumed_from": result.resumed_from, "history": result.history}, open(out + ".json", "w"))
    """
)


def run_child(tmp_path: pathlib.Path, run_dir: pathlib.Path, out: pathlib.Path, kill_at: int = 0):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, HUB_TEST_KILL_AT=str(kill_at), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(script), str(run_dir), str(out)], env=env, capture_output=True,
                          text=True, timeout=600)


def load_weights(path: pathlib.Path) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def manifest_entries(run_dir: pathlib.Path) -> list[dict]:
    return json.loads((run_dir / "checkpoints" / "manifest.json").read_text())["checkpoints"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run."""
    tmp = tmp_path_factory.mktemp("reference")
    done = run_child(tmp, tmp / "run", tmp / "weights.npz")
    assert done.returncode == 0, done.stderr[-3000:]
    return load_weights(tmp / "weights.npz"), json.loads((tmp / "weights.npz.json").read_text())


def kill_mid_epoch(tmp_path: pathlib.Path) -> pathlib.Path:
    run_dir = tmp_path / "run"
    # 208 examples / 16 = 13 steps per epoch; step 20 is the 7th step of epoch 2
    killed = run_child(tmp_path, run_dir, tmp_path / "weights.npz", kill_at=20)
    assert killed.returncode == -signal.SIGKILL, f"the run was not killed: {killed.returncode} {killed.stderr[-2000:]}"
    assert not (tmp_path / "weights.npz").exists()
    entries = manifest_entries(run_dir)
    assert any(e["step"] > 0 for e in entries), "no step checkpoint was written before the kill"
    assert entries[-1] == {**entries[-1], "epoch": 1, "step": 5, "global_step": 18}
    return run_dir


def test_sigkill_mid_epoch_then_restart_gives_same_weights(tmp_path, reference):
    reference_weights, reference_log = reference
    run_dir = kill_mid_epoch(tmp_path)
    restarted = run_child(tmp_path, run_dir, tmp_path / "weights.npz")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    log = json.loads((tmp_path / "weights.npz.json").read_text())
    assert log["resumed_from"] == {"epoch": 1, "step": 5}
    for mine, theirs in zip(load_weights(tmp_path / "weights.npz"), reference_weights, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    # the interrupted epoch's metrics include the steps before the kill (metric state is checkpointed)
    for key in ("loss", "accuracy", "val_loss"):
        np.testing.assert_allclose(log["history"][key], reference_log["history"][key], rtol=1e-5)


def test_half_written_checkpoint_resumes_from_the_previous_one(tmp_path, reference):
    reference_weights, _ = reference
    run_dir = kill_mid_epoch(tmp_path)
    newest = run_dir / "checkpoints" / manifest_entries(run_dir)[-1]["file"]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # torn write
    (run_dir / "checkpoints" / ".ckpt-e0001-s000008.tmp.npz").write_bytes(b"partial")  # a crash during a write
    restarted = run_child(tmp_path, run_dir, tmp_path / "weights.npz")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    log = json.loads((tmp_path / "weights.npz.json").read_text())
    assert log["resumed_from"] == {"epoch": 1, "step": 2}  # the checkpoint before the torn one
    for mine, theirs in zip(load_weights(tmp_path / "weights.npz"), reference_weights, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
