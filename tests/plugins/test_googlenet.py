"""googlenet: architecture, the caffe-tensorflow converter against a numpy forward pass, aux heads."""

from __future__ import annotations

import numpy as np
import pytest

import caffe_reference as ref
from caffe_reference import example_losses, isolated_hub_home, load_example  # noqa: F401 (autouse fixture)
from image_helpers import photo_batch
import hub_core as hub
from hub_core.errors import InvalidArgumentError, WeightsError

# Caffe's pool1/norm1 and conv2/norm2: local_size 5, alpha 1e-4 (divided by local_size), beta 0.75.
LRN = dict(depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)
# 72x72: conv1 36, then every stride-2 Caffe pool rounds up (36 -> 18 -> 9 -> 4 -> 2; floor gives 17, 8, 3, 1).
SIZE = 72
# Table 1 of Szegedy et al.: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE1 = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


@pytest.fixture(scope="module")
def photo():
    """One foolbox ImageNet photo, center-cropped to SIZE x SIZE (0..255 RGB)."""
    return photo_batch(SIZE, count=1)


def conv(x, params, name, stride=1, pad=None):
    kernel = params[name]["weights"]
    pad = kernel.shape[0] // 2 if pad is None else pad
    return ref.relu(ref.conv2d(x, kernel, params[name]["biases"], stride=stride, pad=pad))


def inception(x, params, module):
    p = f"inception_{module}"
    branches = [
        conv(x, params, f"{p}_1x1"),
        conv(conv(x, params, f"{p}_3x3_reduce"), params, f"{p}_3x3"),
        conv(conv(x, params, f"{p}_5x5_reduce"), params, f"{p}_5x5"),
        conv(ref.caffe_pool(x, 3, 1, pad=1), params, f"{p}_pool_proj"),
    ]
    return np.concatenate(branches, axis=-1)


def forward(x, params):
    """GoogLeNet logits in numpy, following bvlc_googlenet/deploy.prototxt."""
    x = ref.caffe_pool(conv(x, params, "conv1_7x7_s2", stride=2, pad=3), 3, 2)
    x = ref.lrn(x, **LRN)
    x = conv(conv(x, params, "conv2_3x3_reduce"), params, "conv2_3x3")
    x = ref.lrn(x, **LRN)
    for stage in "345":
        x = ref.caffe_pool(x, 3, 2)
        for module in (m for m in TABLE1 if m[0] == stage):
            x = inception(x, params, module)
    x = x.mean(axis=(1, 2))  # pool5/7x7_s1 over the whole map
    return x @ params["loss3_classifier"]["weights"] + params["loss3_classifier"]["biases"]


def random_params(seed: int = 0) -> dict:
    """Random caffe-tensorflow {layer: {"weights", "biases"}}; He-scaled so LRN matters."""
    rng = np.random.default_rng(seed)
    params = {}

    def add(name, shape, scale=1.0):
        w = rng.normal(0.0, scale * np.sqrt(2.0 / np.prod(shape[:-1])), size=shape).astype("float32")
        params[name] = {"weights": w, "biases": rng.normal(0.0, 0.1, size=shape[-1]).astype("float32")}

    add("conv1_7x7_s2", (7, 7, 3, 64))
    add("conv2_3x3_reduce", (1, 1, 64, 64))
    add("conv2_3x3", (3, 3, 64, 192))
    channels = 192
    for module, (f1, f3r, f3, f5r, f5, fp) in TABLE1.items():
        p = f"inception_{module}"
        add(f"{p}_1x1", (1, 1, channels, f1))
        add(f"{p}_3x3_reduce", (1, 1, channels, f3r))
        add(f"{p}_3x3", (3, 3, f3r, f3))
        add(f"{p}_5x5_reduce", (1, 1, channels, f5r))
        add(f"{p}_5x5", (5, 5, f5r, f5))
        add(f"{p}_pool_proj", (1, 1, channels, fp))
        channels = f1 + f3 + f5 + fp
    add("loss3_classifier", (channels, 1000), scale=0.05)  # logits of a few units
    return params


@pytest.fixture(scope="module")
def params():
    return random_params()


def save_export(path, params) -> str:
    """Write params like caffe-tensorflow's convert.py: np.save of the pickled dict."""
    np.save(path, np.array(params, dtype=object), allow_pickle=True)
    return str(path)


@pytest.fixture(scope="module")
def expected(photo, params):
    """The numpy reference logits of the photo."""
    return forward(ref.caffe_preprocess(photo), params)


def max_diff(path, photo, expected) -> float:
    model = hub.load("googlenet", weights=path, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    got = model.predict(ref.caffe_preprocess(photo).astype("float32"), verbose=0)
    return float(np.max(np.abs(got - expected)))


def test_converter_matches_numpy_forward(tmp_path, photo, params, expected):
    path = save_export(tmp_path / "googlenet.npy", params)
    assert np.abs(expected).max() > 1.0, "the reference logits must not be trivially small"
    assert max_diff(path, photo, expected) <= 1e-4
    assert len(list((tmp_path / "hub_home" / "converted").glob("googlenet-*.npz"))) == 1


def _transposed_kernel(p):
    p["inception_3a_3x3"]["weights"] = np.ascontiguousarray(p["inception_3a_3x3"]["weights"].transpose(1, 0, 2, 3))


def _rgb_kernel(p):
    p["conv1_7x7_s2"]["weights"] = np.ascontiguousarray(p["conv1_7x7_s2"]["weights"][:, :, ::-1, :])


def _concat_order(p):
    # inception_3b reads 3a's output as if the 1x1 and pool-proj branches had traded places.
    for name in ("1x1", "3x3_reduce", "5x5_reduce", "pool_proj"):
        w = p[f"inception_3b_{name}"]["weights"]
        p[f"inception_3b_{name}"]["weights"] = np.concatenate([w[:, :, 224:], w[:, :, 64:224], w[:, :, :64]], axis=2)


@pytest.mark.parametrize("corrupt", [_transposed_kernel, _rgb_kernel, _concat_order])
def test_comparison_catches_layout_mistakes(tmp_path, photo, params, expected, corrupt):
    wrong = {name: dict(values) for name, values in params.items()}
    corrupt(wrong)
    assert max_diff(save_export(tmp_path / "googlenet.npy", wrong), photo, expected) > 1e-2


def test_module_outputs_concatenate_at_every_size():
    model = hub.load("googlenet", weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    widths = {m: f[0] + f[2] + f[4] + f[5] for m, f in TABLE1.items()}
    for module, width in widths.items():
        assert model.get_layer(f"inception_{module}_output").output.shape[-1] == width
    sizes = [model.get_layer(n).output.shape[1] for n in ("pool1_3x3_s2", "pool2_3x3_s2", "pool3_3x3_s2", "pool4_3x3_s2")]
    assert sizes == [18, 9, 4, 2]


def test_wrong_layout_is_a_clear_error(tmp_path):
    path = tmp_path / "googlenet.npy"
    np.save(path, np.array({"conv1_7x7_s2": [np.zeros(3), np.zeros(3)]}, dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError, match="not laid out as a caffe-tensorflow export"):
        hub.load("googlenet", weights=str(path), input_shape=(SIZE, SIZE, 3))


def test_unpublished_catalog_set_says_how_to_get_it():
    with pytest.raises(WeightsError, match="cannot be downloaded: .*caffe-tensorflow"):
        hub.load("googlenet", weights="bvlc")
    entry = hub.info("googlenet")["variants"]["googlenet"]
    assert entry["default_weights"] is None and entry["weights"]["bvlc"]["published"] is False


def test_aux_classifiers_only_on_request():
    plain = hub.load("googlenet", weights=None, input_shape=(96, 96, 3), classes=7)
    assert not any(layer.name.startswith(("loss1_", "loss2_")) for layer in plain.layers)
    aux = hub.load("googlenet", weights=None, input_shape=(96, 96, 3), classes=7, aux_logits=True)
    assert [o.shape for o in aux.outputs] == [(None, 7)] * 3
    assert aux.get_layer("loss1_conv").input.shape[1:] == (1, 1, 512)  # 6x6 4a map, 5x5/3 average pool
    with pytest.raises(InvalidArgumentError, match="aux_logits"):
        hub.load("googlenet", weights=None, aux_logits=True, include_top=False)
    with pytest.raises(InvalidArgumentError, match="larger input_shape"):
        hub.load("googlenet", weights=None, aux_logits=True, input_shape=(64, 64, 3))


@pytest.mark.slow
def test_parameter_counts_at_224():
    model = hub.load("googlenet", weights=None)
    assert model.count_params() == 6_998_552
    assert model.get_layer("inception_5b_output").output.shape[1:] == (7, 7, 1024)
    aux = hub.load("googlenet", weights=None, aux_logits=True)
    # Each aux head: 1x1 conv 128, fc 1024 over 4x4x128, classifier 1000 (loss1 reads 512 channels, loss2 528).
    assert aux.count_params() - model.count_params() == 2 * (2048 * 1024 + 1024 + 1024 * 1000 + 1000 + 128) + 128 * (512 + 528)


def test_example_training_lowers_the_loss():
    """examples/train_caffe_nets.py: GoogLeNet from scratch on real digits through hub.train."""
    losses = example_losses("googlenet", size=32, epochs=4, limit=96, batch_size=32, learning_rate=1e-4)
    assert len(losses) == 4 and losses[-1] < losses[0], losses


def test_aux_heads_train_with_the_papers_loss_weights():
    x, y = load_example("train_caffe_nets").digits_rgb(96, limit=32)
    train = hub.data.from_arrays(x, (y, y, y), batch_size=16)
    result = hub.train("googlenet", train, epochs=1, num_classes=10, learning_rate=1e-4, precision="float32",
                       model_kwargs={"input_shape": (96, 96, 3), "aux_logits": True}, verbose=0)
    h = {k: v[0] for k, v in result.history.items()}
    weighted = h["loss3_classifier_loss"] + 0.3 * (h["loss1_classifier_loss"] + h["loss2_classifier_loss"])
    assert h["loss"] == pytest.approx(weighted, rel=1e-5)
    assert [o.shape[-1] for o in result.model.outputs] == [10, 10, 10]
