"""hub_core.data: image folders and arrays as replayable tf.data pipelines, on real digit scans."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hub_core import data
from hub_core.demo import write_digits
from hub_core.errors import DataError, InvalidArgumentError


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """scikit-learn's digits as grayscale PNGs, 12 per class, with a few awkward files added."""
    root = tmp_path_factory.mktemp("digits")
    train, _ = write_digits(root, per_class=15, test_fraction=0.2)
    return train


def test_image_folder_reads_real_images_with_class_names(digits):
    dataset = data.image_folder(digits, image_size=(16, 16), batch_size=8, shuffle=False)
    assert dataset.class_names == tuple(str(i) for i in range(10))
    images, labels = next(iter(dataset))
    assert images.shape == (8, 16, 16, 3) and images.dtype.name == "float32"
    assert 0 <= float(np.min(images)) and float(np.max(images)) <= 255
    # grayscale files become 3 equal channels
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    total = sum(int(x.shape[0]) for x, _ in dataset)
    assert total == 120 and dataset.hub_pipeline.size == 120
    assert sorted(set(np.concatenate([y.numpy() for _, y in dataset]))) == list(range(10))


def test_image_folder_matches_independent_pil_decoding(digits):
    file = sorted((digits / "3").glob("*.png"))[0]
    dataset = data.image_folder(digits, image_size=(8, 8), batch_size=200, shuffle=False, crop=None)
    images, labels = next(iter(dataset))
    files = sorted(p for p in digits.rglob("*.png"))
    index = [str(p) for p in sorted(files, key=lambda p: (int(p.parent.name), p.name))].index(str(file))
    expected = np.asarray(Image.open(file).convert("RGB"), dtype=np.float32)
    np.testing.assert_array_equal(images[index].numpy(), expected)
    assert int(labels[index]) == 3


def test_unreadable_files_are_skipped_counted_and_named(tmp_path, digits):
    root = tmp_path / "mixed"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i, src in enumerate(sorted((digits / ("1" if label == "a" else "7")).glob("*.png"))[:4]):
            (root / label / f"{i}.png").write_bytes(src.read_bytes())
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(root / "a" / "rgba.png")
    Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10), "L").convert("P").save(root / "b" / "palette.png")
    (root / "a" / "empty.png").write_bytes(b"")
    (root / "a" / "notes.txt").write_text("not an image")
    good = (root / "a" / "0.png").read_bytes()
    (root / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "b" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 20)

    with pytest.warns(UserWarning, match="Skipped 4 unreadable file"):
        dataset = data.image_folder(root, image_size=(10, 10), batch_size=64, shuffle=False, crop=None)
    skipped = {pathlib_name(s["path"]): s["reason"] for s in dataset.skipped_files}
    assert set(skipped) == {"empty.png", "notes.txt", "truncated.png", "corrupt.jpg"}
    assert "zero bytes" in skipped["empty.png"] and "not an image" in skipped["notes.txt"]
    images, labels = next(iter(dataset))
    assert images.shape[0] == 10  # 4 + 4 copies, the RGBA and the palette image
    rgba_row = images[4].numpy()  # a/: 0..3.png then rgba.png
    np.testing.assert_array_equal(rgba_row[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(rgba_row[9, 0], [255, 255, 255])  # transparency composited on white

    with pytest.raises(DataError, match="empty.png|notes.txt|truncated.png|corrupt.jpg"):
        data.image_folder(root, image_size=(10, 10), strict=True)


def pathlib_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def test_validation_split_is_stratified_disjoint_and_seeded(digits):
    train, val = data.image_folder(digits, image_size=(8, 8), batch_size=500, validation_split=0.25, seed=3)
    _, train_labels = next(iter(train.hub_pipeline.epoch(0)))
    _, val_labels = next(iter(val))
    assert len(train_labels) == 90 and len(val_labels) == 30
    assert np.bincount(val_labels.numpy(), minlength=10).tolist() == [3] * 10
    again, _ = data.image_folder(digits, image_size=(8, 8), batch_size=500, validation_split=0.25, seed=3)
    assert again.hub_pipeline.fingerprint == train.hub_pipeline.fingerprint
    other, _ = data.image_folder(digits, image_size=(8, 8), batch_size=500, validation_split=0.25, seed=4)
    assert other.hub_pipeline.fingerprint != train.hub_pipeline.fingerprint


def test_epochs_replay_exactly_and_skip_resumes_mid_epoch(digits):
    dataset = data.image_folder(digits, image_size=(12, 12), batch_size=16, seed=1, augment=True)
    pipeline = dataset.hub_pipeline
    first = [x.numpy() for x, _ in pipeline.epoch(2)]
    second = [x.numpy() for x, _ in pipeline.epoch(2)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other_epoch = [x.numpy() for x, _ in pipeline.epoch(3)]
    assert not np.array_equal(first[0], other_epoch[0])
    resumed = [x.numpy() for x, _ in pipeline.epoch(2, skip=3)]
    assert len(resumed) == len(first) - 3
    np.testing.assert_array_equal(resumed[0], first[3])
    plain = [x.numpy() for x, _ in pipeline.epoch(2, augment=False)]
    assert not np.array_equal(plain[0], first[0])  # augmentation changed the pixels


def test_augmentation_options_are_validated():
    assert data.Augment.coerce(None) is None
    assert data.Augment.coerce({"flip": False}).flip is False
    with pytest.raises(InvalidArgumentError, match="rotation"):
        data.Augment.coerce({"rotation": 10})


def test_from_arrays_batches_and_checks_lengths():
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    y = np.arange(10) % 2
    dataset = data.from_arrays(x, y, batch_size=4, shuffle=False)
    batches = list(dataset.as_numpy_iterator())
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    train, val = data.from_arrays(x, y, batch_size=4, validation_split=0.3, seed=0)
    assert train.hub_pipeline.size == 7 and val.hub_pipeline.size == 3
    with pytest.raises(DataError, match="different numbers"):
        data.from_arrays(x, y[:5])


def test_missing_folder_and_missing_size_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.image_folder(tmp_path / "nope", image_size=(8, 8))
    with pytest.raises(InvalidArgumentError, match="image_size"):
        data.image_folder(tmp_path)
