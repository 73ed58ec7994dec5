"""hub embed / hub.embed: projector files of real digit images, read back with TensorFlow's and TensorBoard's readers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import hub_core as hub
from hub_core.cli.main import main
from hub_core.data.images import read_image
from hub_core.demo import write_digits
from hub_core.errors import InvalidArgumentError, UnknownNameError
from hub_core.training import embed


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits"), per_class=4, test_fraction=0.5)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    model = hub.load("tiny_convnet", weights=None, classes=10)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


def test_embed_command_writes_the_projector_files(digits, saved_model, tmp_path, capsys):
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorboard.plugins import projector

    logdir = tmp_path / "projector"
    assert main(["embed", str(saved_model), "--data", str(digits[1]), "--out", str(logdir)]) == 0
    assert "embedded 20 images (16 values each, the input of predictions)" in capsys.readouterr().out

    config = text_format.Parse((logdir / "projector_config.pbtxt").read_text(), projector.ProjectorConfig())
    (entry,) = config.embeddings
    assert entry.tensor_name == embed.TENSOR_NAME and entry.metadata_path == "metadata.tsv"
    assert entry.sprite.image_path == "sprite.png" and list(entry.sprite.single_image_dim) == [32, 32]

    rows = (logdir / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "label\tfile" and len(rows) == 21
    labels, files = zip(*(row.split("\t") for row in rows[1:]))
    assert all(file.startswith(f"{label}/") for label, file in zip(labels, files))
    assert sorted(set(labels)) == [str(d) for d in range(10)]

    # the tensor, read back from the checkpoint TensorBoard finds, against the model's pooled features
    vectors = tf.train.load_checkpoint(str(logdir)).get_tensor(embed.TENSOR_NAME)
    model = hub.load(saved_model)
    import keras

    pooling = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    features = keras.Model(model.inputs, pooling.output)
    images = np.stack([read_image(str(digits[1] / f), (32, 32), 3) for f in files]).astype("float32")
    np.testing.assert_allclose(vectors, features.predict(images, verbose=0), rtol=1e-4, atol=1e-5)

    sprite = Image.open(logdir / "sprite.png")
    side = math.ceil(math.sqrt(20)) * 32
    assert sprite.size == (side, side)
    # the first thumbnail is the first row's image
    first = np.asarray(Image.open(digits[1] / files[0]).convert("RGB").resize((32, 32), Image.BILINEAR), dtype=float)
    assert np.abs(np.asarray(sprite, dtype=float)[:32, :32] - first).mean() < 8


def test_embed_feature_maps_are_averaged_and_bad_arguments_refused(digits, saved_model, tmp_path):
    model = hub.load(saved_model)
    report = hub.embed(model, digits[1], tmp_path / "conv", layer="conv2", limit=7)
    assert report["count"] == 7 and report["dim"] == 16 and report["layer"] == "output of conv2"
    assert len((tmp_path / "conv" / "metadata.tsv").read_text().splitlines()) == 8
    assert not list((tmp_path / "conv").glob(".embed-*"))  # the staging folder is gone
    with pytest.raises(UnknownNameError, match="conv9"):
        hub.embed(model, digits[1], tmp_path / "x", layer="conv9")
    with pytest.raises(InvalidArgumentError, match="limit must be 1 to"):
        hub.embed(model, digits[1], tmp_path / "x", limit=10**6)
