"""alexnet: architecture, the bvlc_alexnet.npy converter against a numpy forward pass, refusal of pickles."""

from __future__ import annotations

import hashlib
import json
import pathlib
import pickle

import numpy as np
import pytest

import caffe_reference as ref
from caffe_reference import example_losses, isolated_hub_home  # noqa: F401 (autouse fixture)
import hub_core as hub
from hub_core.errors import InvalidArgumentError, WeightsError
from hub_core.store import cache

# Caffe's norm1/norm2: local_size 5, alpha 1e-4 (divided by local_size), beta 0.75, k 1.
LRN = dict(depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
# 71x71 makes every Caffe pool round up (16 -> 8, 8 -> 4, 4 -> 2; Keras' floor would give 7, 3, 1).
SIZE = 71
CONVS = {  # name: (kernel shape HWIO, stride, pad, groups), from bvlc_alexnet/deploy.prototxt
    "conv1": ((11, 11, 3, 96), 4, 0, 1),
    "conv2": ((5, 5, 48, 256), 1, 2, 2),
    "conv3": ((3, 3, 256, 384), 1, 1, 1),
    "conv4": ((3, 3, 192, 384), 1, 1, 2),
    "conv5": ((3, 3, 192, 256), 1, 1, 2),
}


@pytest.fixture(scope="module")
def photo():
    """skimage's astronaut (public domain), resized to SIZE x SIZE, as a 1-image uint8 RGB batch."""
    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(image)[None]


def features(x, params):
    """conv1 ... pool5 of BVLC AlexNet in numpy (x: caffe-preprocessed NHWC)."""
    for name, (_, stride, pad, groups) in CONVS.items():
        x = ref.relu(ref.conv2d(x, *params[name], stride=stride, pad=pad, groups=groups))
        if name in ("conv1", "conv2"):
            x = ref.lrn(x, **LRN)
        if name in ("conv1", "conv2", "conv5"):
            x = ref.caffe_pool(x, 3, 2)
    return x


def forward(x, params):
    """BVLC AlexNet logits in numpy."""
    x = features(x, params)
    x = ref.relu(ref.dense(x, *params["fc6"]))
    x = ref.relu(ref.dense(x, *params["fc7"]))
    return ref.dense(x, *params["fc8"])


def random_params(size: int, seed: int = 0) -> dict:
    """Random {layer: [W, b]} of the right shapes for a size x size input; He-scaled so LRN matters."""
    rng = np.random.default_rng(seed)

    def layer(shape, fan_in, scale=1.0):
        w = rng.normal(0.0, scale * np.sqrt(2.0 / fan_in), size=shape).astype("float32")
        return [w, rng.normal(0.0, 0.1, size=shape[-1]).astype("float32")]

    params = {name: layer(shape, np.prod(shape[:3])) for name, (shape, *_) in CONVS.items()}
    flat = int(np.prod(features(np.zeros((1, size, size, 3)), params).shape[1:]))
    params["fc6"] = layer((flat, 4096), flat)
    params["fc7"] = layer((4096, 4096), 4096)
    params["fc8"] = layer((4096, 1000), 4096, scale=0.05)  # logits of a few units
    return params


def save_bvlc(path, params) -> str:
    """Write params like bvlc_alexnet.npy: np.save of a pickled {layer: [W, b]} dict."""
    np.save(path, np.array(params, dtype=object), allow_pickle=True)
    return str(path)


def max_diff(model, photo, params) -> float:
    x = ref.caffe_preprocess(photo)
    return float(np.max(np.abs(model.predict(x.astype("float32"), verbose=0) - forward(x, params))))


@pytest.fixture(scope="module")
def params():
    return random_params(SIZE)


def load(path, **kwargs):
    return hub.load("alexnet", weights=path, input_shape=(SIZE, SIZE, 3), classifier_activation=None, **kwargs)


def test_converter_matches_numpy_forward(tmp_path, photo, params):
    model = load(save_bvlc(tmp_path / "bvlc_alexnet.npy", params))
    assert [model.get_layer(n).output.shape[1] for n in ("pool1", "pool2", "pool5")] == [8, 4, 2]
    expected = forward(ref.caffe_preprocess(photo), params)
    assert np.abs(expected).max() > 1.0, "the reference logits must not be trivially small"
    assert max_diff(model, photo, params) <= 1e-4


def test_in_model_preprocessing_takes_raw_rgb(tmp_path, photo, params):
    model = load(save_bvlc(tmp_path / "bvlc_alexnet.npy", params), include_preprocessing=True)
    got = model.predict(photo.astype("float32"), verbose=0)
    assert np.max(np.abs(got - forward(ref.caffe_preprocess(photo), params))) <= 1e-4


def _transposed_kernel(p):
    p["conv2"][0] = np.ascontiguousarray(p["conv2"][0].transpose(1, 0, 2, 3))


def _rgb_kernel(p):
    p["conv1"][0] = np.ascontiguousarray(p["conv1"][0][:, :, ::-1, :])


def _swapped_groups(p):
    w, b = p["conv4"]
    p["conv4"] = [np.concatenate([w[..., 192:], w[..., :192]], -1), np.concatenate([b[192:], b[:192]])]


def _chw_flatten(p):
    w = p["fc6"][0]
    p["fc6"][0] = np.ascontiguousarray(w.reshape(2, 2, 256, 4096).transpose(2, 0, 1, 3).reshape(-1, 4096))


@pytest.mark.parametrize("corrupt", [_transposed_kernel, _rgb_kernel, _swapped_groups, _chw_flatten])
def test_comparison_catches_layout_mistakes(tmp_path, photo, params, corrupt):
    wrong = {name: list(values) for name, values in params.items()}
    corrupt(wrong)
    model = load(save_bvlc(tmp_path / "bvlc_alexnet.npy", wrong))
    assert max_diff(model, photo, params) > 1e-2


def test_swapped_channel_order_of_the_input_is_caught(tmp_path, photo, params):
    model = load(save_bvlc(tmp_path / "bvlc_alexnet.npy", params))
    rgb = (photo.astype("float64") - np.array([123.68, 116.779, 103.939])).astype("float32")
    got = model.predict(rgb, verbose=0)
    assert np.max(np.abs(got - forward(ref.caffe_preprocess(photo), params))) > 1e-2


def test_converted_once_then_pickle_is_never_read(tmp_path, photo, params, monkeypatch):
    source = save_bvlc(tmp_path / "bvlc_alexnet.npy", params)
    first = load(source)
    converted = list((tmp_path / "hub_home" / "converted").iterdir())
    assert [p.suffix for p in converted] == [".npz"], "exactly one finished .npz, no temp files"
    with np.load(converted[0], allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["conv2/0"], params["conv2"][0])

    def refuse(path):
        raise AssertionError(f"pickle read again: {path}")

    monkeypatch.setattr("hub_core.store.readers.pickle.load_pickled_arrays", refuse)
    second = load(source)
    x = ref.caffe_preprocess(photo).astype("float32")
    np.testing.assert_array_equal(first.predict(x, verbose=0), second.predict(x, verbose=0))


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, np.array({"conv1": [_Payload(marker), np.zeros(96)]}, dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError, match=r"Refused to read .*(posix|os)\.system"):
        hub.load("alexnet", weights=str(path), input_shape=(SIZE, SIZE, 3))
    assert not marker.exists()
    assert not (tmp_path / "hub_home" / "converted").exists() or not any((tmp_path / "hub_home" / "converted").iterdir())


def test_raw_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"conv1": _Payload(marker)}))
    with pytest.raises(WeightsError, match="Refused to read"):
        hub.load("alexnet", weights=str(path), input_shape=(SIZE, SIZE, 3))
    assert not marker.exists()


def test_wrong_layout_is_a_clear_error(tmp_path):
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, np.array({"conv1": {"weights": np.zeros(3)}}, dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError, match=r"layer 'conv1' is not laid out as the \{layer: \[kernel, bias\]\}"):
        hub.load("alexnet", weights=str(path), input_shape=(SIZE, SIZE, 3))


def test_catalog_entry_is_honest_about_the_hash():
    entry = hub.info("alexnet")["variants"]["alexnet"]["weights"]["bvlc"]
    assert entry["files"][0]["url"] == "http://www.cs.toronto.edu/~guerzhoy/tf_alexnet/bvlc_alexnet.npy"
    assert "publishes no hash" in entry["note"] and entry["num_classes"] == 1000


def test_small_input_is_rejected():
    with pytest.raises(InvalidArgumentError, match="at least 63x63"):
        hub.load("alexnet", weights=None, input_shape=(40, 40, 3), include_top=False)


def test_features_and_single_tower_shapes():
    model = hub.load("alexnet", weights=None, features=True, input_shape=(SIZE, SIZE, 3))
    assert [(f["name"], f["stride"], f["channels"]) for f in model.feature_info] == [
        ("conv1", 4, 96), ("conv2", 8, 256), ("conv5", 16, 256), ("pool5", 32, 256)
    ]
    tower = hub.load("alexnet_single_tower", weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    assert tower.output.shape[1:] == (1, 1, 256)  # floor-mode pools: 17 -> 8 -> 3 -> 1
    assert not any(getattr(layer, "groups", 1) > 1 for layer in tower.layers)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "count", "size"), [("alexnet", 60_965_224, 227), ("alexnet_single_tower", 61_100_840, 224)])
def test_parameter_counts(name, count, size):
    model = hub.load(name, weights=None)
    assert model.count_params() == count
    assert model.input_shape == (None, size, size, 3)
    assert model.get_layer("pool5").output.shape[1:] == (6, 6, 256)


def test_example_training_lowers_the_loss():
    """examples/train_caffe_nets.py: AlexNet from scratch on real digits through hub.train."""
    losses = example_losses("alexnet", size=63, epochs=3, limit=64, batch_size=16, learning_rate=1e-4)
    assert len(losses) == 3 and losses[-1] < losses[0], losses


@pytest.fixture
def mirror(tmp_path, monkeypatch, params):
    """A HUB_CORE_MIRROR folder holding a bvlc_alexnet.npy with random conv weights."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    source = save_bvlc(folder / "bvlc_alexnet.npy", {name: params[name] for name in CONVS})
    monkeypatch.setenv("HUB_CORE_MIRROR", str(folder))
    return pathlib.Path(source)


def test_catalog_set_is_fetched_verified_and_converted(mirror, tmp_path, monkeypatch, photo, params):
    from hub_core.hub import catalog

    entry = hub.info("alexnet")["variants"]["alexnet"]["weights"]["bvlc"]
    files = [dict(entry["files"][0], sha256=hashlib.sha256(mirror.read_bytes()).hexdigest())]
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"plugins": {"alexnet": {"variants": {"alexnet": {"weights": {"bvlc": {"files": files}}}}}}}))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(overlay))
    catalog.refresh()
    try:
        model = hub.load("alexnet", weights="bvlc", include_top=False, input_shape=(SIZE, SIZE, 3))
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()
    x = ref.caffe_preprocess(photo)
    expected = features(x, params)  # pool5 values reach ~100, so the bound is relative
    assert np.max(np.abs(model.predict(x.astype("float32"), verbose=0) - expected)) <= 1e-5 * np.abs(expected).max()
    assert [path.name for path in cache.cached_downloads()] == ["bvlc_alexnet.npy"]


def test_catalog_set_refuses_a_file_without_the_published_hash(mirror, tmp_path):
    with pytest.raises(WeightsError, match="sha256 .*expected 1294ef51"):
        hub.load("alexnet", weights="bvlc", include_top=False, input_shape=(SIZE, SIZE, 3))
    assert not (tmp_path / "hub_home" / "converted").exists()


def test_baked_preprocessing_is_the_plugins_mode_of_each_variant():
    from hub_core.hub import registry

    plugin = registry.get_plugin("alexnet")
    for variant, mode in (("alexnet", "caffe"), ("alexnet_single_tower", "torch")):
        model = hub.load(variant, weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), include_preprocessing=True)
        assert model.get_layer("preprocessing").mode == plugin.preprocessing(plugin.variant(variant)) == mode
    with pytest.raises(hub.HubError, match="multiple values for keyword argument 'preprocessing'"):
        hub.load("alexnet", weights=None, preprocessing="tf")
