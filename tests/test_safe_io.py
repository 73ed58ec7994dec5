"""Readers of foreign formats refuse code execution."""

from __future__ import annotations

import builtins
import os
import pathlib
import pickle
import re

import numpy as np
import pytest

from hub_core.errors import WeightsError
from hub_core.store.readers.numpy import load_npz
from hub_core.store.readers.pickle import load_pickled_arrays


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((3, 3, 2, 4)).astype("float32"), rng.standard_normal(4).astype("float32")


def test_npy_dict_in_alexnet_layout(tmp_path):
    kernel, bias = _arrays()
    np.save(tmp_path / "bvlc_alexnet.npy", {"conv1": [kernel, bias], "fc8": [kernel[0, 0], bias]})
    loaded = load_pickled_arrays(tmp_path / "bvlc_alexnet.npy")
    assert sorted(loaded) == ["conv1", "fc8"]
    np.testing.assert_array_equal(loaded["conv1"][0], kernel)
    np.testing.assert_array_equal(loaded["conv1"][1], bias)
    assert loaded["conv1"][0].dtype == np.float32


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_raw_pickle_in_googlenet_layout(tmp_path, protocol):
    kernel, bias = _arrays(1)
    data = {"conv1/7x7_s2": {"weights": kernel, "biases": bias}, "scale": np.float32(0.5), "names": ("a", 1, 2.0)}
    (tmp_path / "googlenet.pkl").write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_pickled_arrays(tmp_path / "googlenet.pkl")
    np.testing.assert_array_equal(loaded["conv1/7x7_s2"]["weights"], kernel)
    np.testing.assert_array_equal(loaded["conv1/7x7_s2"]["biases"], bias)
    assert loaded["scale"] == np.float32(0.5) and loaded["names"] == ("a", 1, 2.0)


def test_plain_npy_array_is_read_without_pickle(tmp_path):
    kernel, _ = _arrays()
    np.save(tmp_path / "w.npy", kernel)
    np.testing.assert_array_equal(load_pickled_arrays(tmp_path / "w.npy"), kernel)


class _SystemPayload:
    """Pickles to a call of os.system that would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _EvalPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",)


def test_npy_with_os_system_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    kernel, bias = _arrays()
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, {"conv1": [kernel, bias], "evil": _SystemPayload(marker)})
    with pytest.raises(WeightsError) as error:
        load_pickled_arrays(path)
    message = str(error.value)
    assert str(path) in message and ".system" in message
    assert not marker.exists()
    # The payload is real: unrestricted unpickling would have run it.
    np.load(path, allow_pickle=True)
    assert marker.exists()


def test_raw_pickle_with_eval_payload_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"w": _EvalPayload(marker)}, protocol=2))
    with pytest.raises(WeightsError, match=r"builtin_*\.eval"):
        load_pickled_arrays(path)
    assert not marker.exists()


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(WeightsError, match="rot13"):
        load_pickled_arrays(path)


def test_garbage_is_a_weights_error(tmp_path):
    path = tmp_path / "broken.npy"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(WeightsError, match="broken.npy"):
        load_pickled_arrays(path)


def test_load_npz_refuses_pickles(tmp_path):
    kernel, bias = _arrays()
    np.savez(tmp_path / "w.npz", kernel=kernel, bias=bias)
    loaded = load_npz(tmp_path / "w.npz")
    np.testing.assert_array_equal(loaded["kernel"], kernel)
    np.testing.assert_array_equal(loaded["bias"], bias)
    np.save(tmp_path / "obj.npy", {"kernel": kernel})
    with pytest.raises(WeightsError, match="obj.npy"):
        load_npz(tmp_path / "obj.npy")


def test_no_code_path_turns_the_safety_off():
    """Library and plugin code never unpickles freely, drops Keras safe mode, or calls extractall."""
    root = pathlib.Path(__file__).resolve().parents[1]
    unsafe = re.compile(r"allow_pickle\s*=\s*True|safe_mode\s*=\s*False\s*[,)]|\.extractall\(|pickle\.loads?\(|torch\.load\(")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("hub_core", "plugins")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if unsafe.search(line)
    ]
    assert offenders == []
