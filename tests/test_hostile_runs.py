"""Hostile and broken images and run directories (issue 13, items 9-16): each case is built here and refused clearly.

Images: one over PIL's decompression-bomb warning limit, a directory named like
an image, a broken symbolic link and a symbolic link loop are skipped, counted
and named by the folder scan. Run directories: damaged JSON records are a
``DataError`` naming the file before any training step; a damaged manifest or
checkpoint falls back to the complete checkpoints, with a warning; temporary
files of a killed write are removed; ``resume=False`` never replaces an
earlier run's results unless ``overwrite=True`` moves them aside; one class is
refused. The CLI cases run the real ``hub`` command in a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import hub_core as hub
from hub_core import data
from hub_core.errors import DataError, InvalidArgumentError
from hub_core.training import runs
from hub_core.vision.imaging import load_image

HUB = [sys.executable, "-m", "hub_core.cli"]
BOMB_SIDE = 10_000  # 1e8 pixels: over PIL's warning limit (89,478,485), under its error limit (twice that)


# --- building hostile files ------------------------------------------------------------------------------
def write_constant_png(path: pathlib.Path, side: int) -> pathlib.Path:
    """A valid grayscale PNG of ``side`` x ``side`` zeros, compressed row by row (a few KB, little memory)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte 0, then the row's pixels
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def write_class_folders(root: pathlib.Path, classes=("a", "b"), per_class: int = 3, side: int = 8) -> pathlib.Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
    return root


def add_hostile_entries(folder: pathlib.Path) -> dict[str, str]:
    """A bomb, a directory named x.jpg, a broken link and a link loop in ``folder``; their expected reasons."""
    write_constant_png(folder / "bomb.png", BOMB_SIDE)
    (folder / "x.jpg").mkdir()
    (folder / "dangling.jpg").symlink_to(folder / "no-such-file.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    return {"bomb.png": "refused as a decompression bomb", "dangling.jpg": "a broken symbolic link",
            "loop.jpg": "a symbolic link loop", "x.jpg": "a directory, not an image file"}


# --- images (items 9, 10) --------------------------------------------------------------------------------
def test_folder_scan_skips_counts_and_names_a_bomb_a_directory_and_broken_links(tmp_path):
    root = write_class_folders(tmp_path / "images")
    expected = add_hostile_entries(root / "a")
    assert (root / "a" / "bomb.png").stat().st_size < 100_000
    with pytest.warns(UserWarning, match=r"Skipped 4 unreadable file\(s\)") as caught:
        dataset = data.image_folder(root, image_size=(8, 8), batch_size=4, shuffle=False)
    assert "bomb.png" in str(caught[0].message) and "x.jpg" in str(caught[0].message)
    reasons = {pathlib.Path(entry["path"]).name: entry["reason"] for entry in dataset.skipped_files}
    assert sorted(reasons) == sorted(expected)
    for name, reason in expected.items():
        assert reasons[name].startswith(reason), (name, reasons[name])
    labels = np.concatenate([y.numpy() for _, y in dataset])  # the pipeline decodes every kept file
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DataError, match=r"bomb\.png is refused as a decompression bomb"):
        data.image_folder(root, image_size=(8, 8), strict=True)


def test_load_image_says_a_directory_is_a_directory(tmp_path):
    folder = tmp_path / "photo.jpg"
    folder.mkdir()
    with pytest.raises(DataError, match=f"^{folder} is a directory, not an image file"):
        load_image(folder)


# --- run directories (items 11-15) -----------------------------------------------------------------------
def digits(count: int):
    from sklearn.datasets import load_digits

    loaded = load_digits()
    return loaded.images[:count, :, :, None].astype("float32") * 16, loaded.target[:count].astype("int32")


def build():
    import keras

    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(hidden))


def train_into(run_dir, epochs: int = 2, **options):
    x, y = digits(96)
    return hub.train(build, (x[:64], y[:64]), (x[64:], y[64:]), epochs=epochs, run_dir=run_dir, verbose=0,
                     learning_rate=0.05, batch_size=32, **options)


class CountSteps:
    """A Keras callback that counts training steps (built lazily: Keras is imported by then)."""

    @staticmethod
    def make():
        import keras

        class Counter(keras.callbacks.Callback):
            steps = 0

            def on_train_batch_end(self, batch, logs=None):
                Counter.steps += 1

        return Counter()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run of 2 epochs (2 checkpoints), copied by each test before it damages anything."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train_into(run_dir)
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def snapshot(run_dir: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.parts[len(run_dir.parts)] != "logs"}


@pytest.mark.parametrize("name", ["run.json", "metrics.json", "best.json"])
def test_a_truncated_record_is_a_data_error_naming_it_before_any_training(run_copy, name):
    record = run_copy / name
    record.write_bytes(record.read_bytes()[: len(record.read_bytes()) // 2])
    before = snapshot(run_copy)
    counter = CountSteps.make()
    with pytest.raises(DataError, match=f"^{record} is not valid JSON .*truncated or damaged"):
        train_into(run_copy, epochs=3, callbacks=[counter])
    assert type(counter).steps == 0
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_model_file_is_called_damaged_not_missing(run_copy, damage):
    from hub_core import saving

    for name in (saving.FINAL_MODEL, saving.BEST_MODEL):
        model = run_copy / name
        data = bytearray(model.read_bytes())
        if damage == "truncated":  # its zip directory, at the end, is lost
            model.write_bytes(bytes(data[: len(data) // 2]))
        else:  # a byte of config.json, the first member (stored uncompressed): its CRC fails
            data[data.index(b'"class_name"') + 2] ^= 0xFF
            model.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"^The model file {run_copy / saving.BEST_MODEL} is damaged .*copy or save it again"):
        hub.load(run_copy)


def test_a_truncated_manifest_falls_back_to_the_checkpoint_files(run_copy, caplog):
    manifest = run_copy / "checkpoints" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        result = train_into(run_copy, epochs=3)
    notes = [r.getMessage() for r in caplog.records if str(manifest) in r.getMessage()]
    assert notes == [f"hub: the checkpoint manifest {manifest} is damaged, so it is rebuilt from the 2 checkpoint "
                     "file(s) found by name."]
    assert result.resumed_from == {"epoch": 2, "step": 0}
    assert [e["epoch"] for e in json.loads(manifest.read_text())["checkpoints"]] == [1, 2, 3]


def test_a_damaged_latest_checkpoint_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    run = runs.RunDir(tmp_path)
    for step in (1, 2):
        run.save_checkpoint({"epoch": 0, "step": step, "global_step": step}, {"w": np.full(3, step)})
    files = [tmp_path / "checkpoints" / e["file"] for e in run.manifest()["checkpoints"]]
    files[-1].write_bytes(files[-1].read_bytes()[:50])
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        entry, arrays = run.latest_checkpoint()
    assert entry["step"] == 1 and arrays["w"].tolist() == [1, 1, 1]
    assert [r.getMessage() for r in caplog.records] == [
        f"hub: skipped the damaged checkpoint {files[-1]} (its sha256 is not the one the manifest recorded)."]
    caplog.clear()
    files[0].write_bytes(b"PK\x03\x04 torn")
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        assert run.latest_checkpoint() is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 and str(files[0]) in messages[1]
    assert messages[2] == f"hub: no checkpoint in {tmp_path / 'checkpoints'} is readable, so the run restarts from scratch."


def test_has_checkpoint_counts_only_checkpoints_that_latest_checkpoint_can_resume_from(tmp_path):
    run = runs.RunDir(tmp_path)
    assert not run.has_checkpoint()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "notes.txt").write_text("not a checkpoint")
    assert not run.has_checkpoint()
    for step in (1, 2):
        run.save_checkpoint({"epoch": 0, "step": step, "global_step": step}, {"w": np.full(3, step)})
    files = [tmp_path / "checkpoints" / e["file"] for e in run.manifest()["checkpoints"]]
    files[-1].write_bytes(files[-1].read_bytes()[:50])
    assert run.has_checkpoint() and run.latest_checkpoint()[0]["step"] == 1
    files[0].unlink()
    assert not run.has_checkpoint() and run.latest_checkpoint() is None
    (tmp_path / "checkpoints" / "manifest.json").write_text("[")
    assert not run.has_checkpoint()
    run.prepare()  # rebuilds the manifest from the torn file's name
    assert not run.has_checkpoint()
    run.save_checkpoint({"epoch": 0, "step": 3, "global_step": 3}, {"w": np.full(3, 3)})
    assert run.has_checkpoint()


def test_without_a_manifest_a_checkpoint_with_a_changed_byte_is_found_by_its_zip_crc(tmp_path, caplog):
    run = runs.RunDir(tmp_path)
    for step in (1, 2):
        run.save_checkpoint({"epoch": 0, "step": step, "global_step": step}, {"w": np.full(1000, step, "int64")})
    latest = tmp_path / "checkpoints" / run.manifest()["checkpoints"][-1]["file"]
    content = bytearray(latest.read_bytes())
    content[len(content) // 2] ^= 0xFF  # inside the array's bytes: only the CRC can tell
    latest.write_bytes(bytes(content))
    (tmp_path / "checkpoints" / "manifest.json").write_text('{"checkpoints": [')
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        run.prepare()
        entry, arrays = run.latest_checkpoint()
    assert entry["step"] == 1 and arrays["w"].tolist() == [1] * 1000
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "rebuilt from the 2 checkpoint file(s)" in messages[0]
    assert messages[1].startswith(f"hub: skipped the damaged checkpoint {latest} (") and "CRC" in messages[1]


def test_temporary_files_of_a_killed_write_are_removed_by_the_next_run(run_copy):
    partial = [run_copy / "checkpoints" / ".ckpt-e0002-s000008-g00000020.npz.k3j9x2ab.tmp.npz",
               run_copy / ".model.keras.q8w7e6rt.tmp.keras"]
    for file in partial:
        file.write_bytes(b"PK\x03\x04 half a file")
    result = train_into(run_copy)  # already finished: nothing to train, the run is reopened and saved
    assert result.resumed_from == {"epoch": 2, "step": 0}
    assert not any(file.exists() for file in partial)
    assert not list(run_copy.rglob("*.tmp*"))


def test_resume_false_refuses_to_replace_results_and_overwrite_moves_them_aside(run_copy, caplog):
    before = snapshot(run_copy)
    with pytest.raises(InvalidArgumentError, match=f"^{run_copy} holds an earlier run's results.*overwrite=True"):
        train_into(run_copy, epochs=1, resume=False)
    assert snapshot(run_copy) == before
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        result = train_into(run_copy, epochs=1, resume=False, overwrite=True)
    aside = [p for p in run_copy.parent.iterdir() if p.name.startswith("run.")]
    assert len(aside) == 1 and snapshot(aside[0]) == before
    assert f"hub: moved the earlier run in {run_copy} to {aside[0]}." in [r.getMessage() for r in caplog.records]
    assert result.resumed_from is None and len(result.history["loss"]) == 1
    assert json.loads((run_copy / "best.json").read_text())["epoch"] == 1


def test_a_diverged_model_is_never_the_best_and_another_metric_replaces_it_with_a_warning(tmp_path, caplog):
    run = runs.RunDir(tmp_path)
    for value in (float("nan"), float("inf")):
        assert run.offer_best(None, "val_loss", "min", value, 1) is False
    assert run.best() is None and not (tmp_path / runs.BEST_MODEL).exists()
    assert run.offer_best(build(), "val_loss", "min", 0.5, 1)
    assert not run.offer_best(None, "val_loss", "min", float("nan"), 2)
    with caplog.at_level(logging.WARNING, logger="hub_core"):
        assert run.offer_best(build(), "loss", "min", 0.9, 3)
    assert [r.getMessage() for r in caplog.records] == [
        f"hub: {tmp_path / 'best.keras'} was the best model by val_loss, which this run does not measure; "
        "it is replaced by the best by loss."]
    assert run.best() == {"monitor": "loss", "mode": "min", "value": 0.9, "epoch": 3}


def test_one_class_is_refused_before_training(tmp_path):
    root = write_class_folders(tmp_path / "images", classes=("cats",), side=32)
    with pytest.raises(DataError, match=r"one class \(cats\), and a classifier needs at least two"):
        hub.train("tiny_convnet", data.image_folder(root, model="tiny_convnet"), run_dir=tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()
    x = np.zeros((4, 32, 32, 3), "float32")
    with pytest.raises(DataError, match="tiny_convnet has one class"):
        hub.train("tiny_convnet", (x, np.zeros(4, "int32")), verbose=0)


# --- the command line (items 9, 10, 16) --------------------------------------------------------------
def hub_command(*args):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([*HUB, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty directory this process cannot write into (immutable when running as root)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode:
            pytest.skip("running as root without chattr +i: no directory is read-only")
    else:
        folder.chmod(0o555)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_cli_hostile_images_and_a_read_only_run_dir_give_one_warning_line_and_one_error_line(tmp_path, read_only_dir):
    root = write_class_folders(tmp_path / "images", side=32)
    add_hostile_entries(root / "a")
    done = hub_command("train", "tiny_convnet", "--data", str(root), "--out", str(read_only_dir), "--quiet")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith(f"hub: warning: Skipped 4 unreadable file(s) in {root}: ")
    assert "bomb.png (refused as a decompression bomb" in lines[0] and "x.jpg (a directory, not an image file)" in lines[0]
    assert lines[1].startswith(f"hub: error: {read_only_dir / 'run.json'} could not be read or written ("), lines[1]
    assert lines[1].endswith("check the permissions of its folder and the free disk space, or choose another path.")
    assert ".tmp" not in lines[1] and list(read_only_dir.iterdir()) == []


def test_cli_an_image_that_fails_inside_tf_data_is_its_one_sentence(tmp_path, monkeypatch, capsys):
    """The issue's crash: a bomb that passes the scan (here, one that cannot tell) fails inside the tf.data pipeline."""
    from hub_core.cli import main
    from hub_core.data import images

    root = write_class_folders(tmp_path / "images", side=32)
    bomb = write_constant_png(root / "a" / "bomb.png", BOMB_SIDE)
    monkeypatch.setattr(images, "_unreadable", lambda path: None)
    status = main.main(["train", "tiny_convnet", "--data", str(root), "--out", str(tmp_path / "run"), "--quiet"])
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f"hub: error: Image {bomb} is refused as a decompression bomb (Image size (100000000 pixels) exceeds limit "
        "of 89478485 pixels, could be decompression bomb DOS attack.); raise PIL.Image.MAX_IMAGE_PIXELS if you trust it."]
