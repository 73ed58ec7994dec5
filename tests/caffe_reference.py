"""Plain-numpy reference ops for the Caffe-era networks (AlexNet, GoogLeNet), plus their test helpers.

Written from Caffe's definitions (``conv_layer``, ``lrn_layer``,
``pooling_layer``), independently of the Keras layers they check: pooling
walks Caffe's window arithmetic, LRN sums an explicit channel window.
All arrays are NHWC float64; kernels are HWIO as in the converted files.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view


def conv2d(x, kernel, bias, stride=1, pad=0, groups=1):
    """Caffe convolution: symmetric zero ``pad``, floor output size, channel groups."""
    x = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    kh, kw, cin_per_group, cout = kernel.shape
    assert x.shape[-1] == cin_per_group * groups, (x.shape, kernel.shape, groups)
    cout_per_group = cout // groups
    outputs = []
    for g in range(groups):
        xg = x[..., g * cin_per_group : (g + 1) * cin_per_group]
        kg = kernel[..., g * cout_per_group : (g + 1) * cout_per_group]
        patches = sliding_window_view(xg, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]  # N,OH,OW,C,kh,kw
        outputs.append(np.einsum("nhwcij,ijco->nhwo", patches, kg, optimize=True))
    return np.concatenate(outputs, axis=-1) + bias


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def lrn(x, depth_radius, bias, alpha, beta):
    """``x / (bias + alpha * sum of squares over the channel window) ** beta``."""
    channels = x.shape[-1]
    out = np.empty_like(x)
    for c in range(channels):
        lo, hi = max(0, c - depth_radius), min(channels, c + depth_radius + 1)
        sqr_sum = np.sum(x[..., lo:hi] ** 2, axis=-1)
        out[..., c] = x[..., c] / (bias + alpha * sqr_sum) ** beta
    return out


def caffe_pool(x, kernel, stride, pad=0, mode="max"):
    """Caffe pooling: ceil-mode output size, Caffe's clip rule and window bounds."""
    n, height, width, channels = x.shape

    def out_size(size):
        pooled = int(np.ceil((size + 2 * pad - kernel) / stride)) + 1
        if pad and (pooled - 1) * stride >= size + pad:
            pooled -= 1
        return pooled

    oh, ow = out_size(height), out_size(width)
    out = np.empty((n, oh, ow, channels), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * stride - pad, j * stride - pad
            h1, w1 = min(h0 + kernel, height + pad), min(w0 + kernel, width + pad)
            area = (h1 - h0) * (w1 - w0)  # Caffe divides by the padded window area
            window = x[:, max(h0, 0) : min(h1, height), max(w0, 0) : min(w1, width), :]
            if mode == "max":
                out[:, i, j, :] = window.max(axis=(1, 2))
            else:
                out[:, i, j, :] = window.sum(axis=(1, 2)) / area
    return out


def dense(x, kernel, bias):
    """Fully connected layer on the NHWC-flattened input (caffe-tensorflow's layout)."""
    return x.reshape(len(x), -1) @ kernel + bias


def softmax(x):
    """Row-wise softmax."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def caffe_preprocess(images_rgb):
    """Caffe mode input: RGB uint8 to BGR minus the ImageNet mean (Keras' 'caffe' constants)."""
    return images_rgb[..., ::-1].astype(np.float64) - np.array([103.939, 116.779, 123.68])


@pytest.fixture(autouse=True)
def isolated_hub_home(tmp_path, monkeypatch):
    """A fresh ``HUB_CORE_HOME`` under ``tmp_path`` and no network (autouse where imported)."""
    monkeypatch.setenv("HUB_CORE_HOME", str(tmp_path / "hub_home"))
    monkeypatch.setenv("HUB_CORE_OFFLINE", "1")


def load_example(name: str):
    """Import ``examples/<name>.py`` (examples are scripts, not a package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_losses(model: str, **options) -> list[float]:
    """Per-epoch training losses of ``examples/train_caffe_nets.py`` for ``model`` (float32, silent)."""
    return load_example("train_caffe_nets").run(model, precision="float32", verbose=0, **options)["history"]["loss"]
