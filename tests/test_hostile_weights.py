"""Hostile weight files (issue 13, items 1 and 2): each case builds its file and checks the exact outcome.

Readers must never follow a weight file to another file, never allocate more
than the file holds, and never let a ``MemoryError`` escape raw. Memory is
measured in a child process (its peak resident set, VmHWM) under a 1 GiB
address-space limit.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from hub_core.errors import InvalidArgumentError, WeightsError
from hub_core.store.readers.hdf5 import read_weights
from hub_core.store.readers.numpy import load_npz

SECRET = b"TOP-SECRET-KEY!!" * 4  # 64 bytes: 16 float32 values
MEMORY_BOUND_MB = 250  # the attacks below ask for 0.4-1.6 GB

_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
result = {}
try:
    exec(sys.argv[1])
except BaseException as error:
    result = {"error": type(error).__name__, "message": str(error)}
# VmHWM is this program's peak; ru_maxrss would include the parent's, kept across exec.
peak_kb = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
result["maxrss_mb"] = int(peak_kb) / 1024
print(json.dumps(result))
"""


def _in_child(code: str, home: pathlib.Path | None = None) -> dict:
    """Run ``code`` in a fresh interpreter limited to 1 GiB; its error and peak RSS."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if home is not None:
        env["HUB_CORE_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", _CHILD, code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _legacy_h5(path, layers: dict[str, list[np.ndarray]]) -> pathlib.Path:
    """A keras-applications style h5: ``layer_names`` on the root, ``weight_names`` on each layer group."""
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        for name, values in layers.items():
            group = handle.create_group(name)
            names = [f"{name}/w{i}:0" for i in range(len(values))]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for weight_name, value in zip(names, values):
                group[weight_name] = value
    return pathlib.Path(path)


def _dense_h5(tmp_path) -> pathlib.Path:
    return _legacy_h5(tmp_path / "w.h5", {"dense": [np.ones((3, 4), "float32"), np.zeros(16, "float32")]})


def _replace(path, dataset: str, make) -> None:
    """Replace ``dataset`` with what ``make(handle, dataset)`` puts there."""
    with h5py.File(path, "r+") as handle:
        del handle[dataset]
        make(handle, dataset)


def _other_file(tmp_path) -> pathlib.Path:
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["x"] = np.frombuffer(SECRET, "float32")
    return tmp_path / "other.h5"


def _external_storage(tmp_path):
    (tmp_path / "secret.bin").write_bytes(SECRET)
    return lambda handle, name: handle.create_dataset(name, (16,), "float32", external=[(str(tmp_path / "secret.bin"), 0, 64)])


def _external_link(tmp_path):
    other = _other_file(tmp_path)
    return lambda handle, name: handle.__setitem__(name, h5py.ExternalLink(str(other), "/x"))


def _virtual(tmp_path):
    other = _other_file(tmp_path)

    def make(handle, name):
        layout = h5py.VirtualLayout((16,), "float32")
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(16,))
        handle.create_virtual_dataset(name, layout)

    return make


def _dangling_soft_link(tmp_path):
    return lambda handle, name: handle.__setitem__(name, h5py.SoftLink("/nowhere/x"))


def _reference(tmp_path):
    return lambda handle, name: handle.create_dataset(name, data=[handle["dense/dense/w0:0"].ref], dtype=h5py.ref_dtype)


@pytest.mark.parametrize(
    "make, expected",
    [(_external_storage, "stored in other files"), (_external_link, "external link"), (_virtual, "virtual dataset"),
     (_dangling_soft_link, "soft link"), (_reference, "object references")],
    ids=["external-storage", "external-link", "virtual", "dangling-soft-link", "reference"],
)
def test_legacy_h5_pointing_outside_itself_is_refused(tmp_path, make, expected):
    path = _dense_h5(tmp_path)
    np.testing.assert_array_equal(read_weights(path)["dense"][0], np.ones((3, 4)))  # the file reads before the change
    _replace(path, "dense/dense/w1:0", make(tmp_path))
    with pytest.raises(WeightsError, match=expected) as error:
        read_weights(path)
    assert str(path) in str(error.value) and "dense/dense/w1:0" in str(error.value)


def test_reference_in_an_attribute_is_refused(tmp_path):
    path = _dense_h5(tmp_path)
    with h5py.File(path, "r+") as handle:
        handle["dense"].attrs["target"] = handle["dense/dense/w0:0"].ref
    with pytest.raises(WeightsError, match="dense/@target.*object references"):
        read_weights(path)


def test_soft_link_inside_the_file_still_reads(tmp_path):
    path = _dense_h5(tmp_path)
    _replace(path, "dense/dense/w1:0", lambda handle, name: handle.__setitem__(name, h5py.SoftLink("/dense/dense/w0:0")))
    np.testing.assert_array_equal(read_weights(path)["dense"][1], np.ones((3, 4)))


def test_keras3_weights_h5_with_external_storage_is_refused(tmp_path):
    path = tmp_path / "model.weights.h5"
    with h5py.File(path, "w") as handle:
        variables = handle.create_group("layers/dense/vars")
        variables.attrs["name"] = "dense"
        variables["0"] = np.ones((3, 4), "float32")
        variables["1"] = np.zeros(16, "float32")
    assert read_weights(path)["dense"][1].shape == (16,)
    _replace(path, "layers/dense/vars/1", _external_storage(tmp_path))
    with pytest.raises(WeightsError, match=r"layers/dense/vars/1' is stored in other files \(.*secret.bin\)"):
        read_weights(path)


@pytest.fixture(scope="module")
def resnet20_h5(tmp_path_factory):
    """resnet20's weights in the legacy h5 layout, and the model they came from."""
    import hub_core as hub
    from image_helpers import write_legacy_h5

    model = hub.load("resnet20", weights=None)
    return write_legacy_h5(model, tmp_path_factory.mktemp("resnet20") / "resnet20.h5"), model


@pytest.mark.slow  # builds resnet20 three times
def test_resnet20_classifier_bias_in_external_storage_never_reaches_the_model(resnet20_h5, tmp_path):
    import hub_core as hub

    good, model = resnet20_h5
    with h5py.File(good, "r") as handle:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in handle["predictions"].attrs["weight_names"]]
        bias_name = next(n for n in names if "bias" in n)
        original = handle["predictions"][bias_name][...]
    loaded = hub.load("resnet20", weights=str(good))  # the untouched file loads, values and all
    np.testing.assert_array_equal(loaded.get_layer("predictions").weights[1].numpy(), original)
    hostile = tmp_path / "resnet20.h5"
    hostile.write_bytes(good.read_bytes())
    (tmp_path / "secret.bin").write_bytes(SECRET[:40])
    _replace(hostile, f"predictions/{bias_name}",
             lambda handle, name: handle.create_dataset(name, (10,), "float32", external=[(str(tmp_path / "secret.bin"), 0, 40)]))
    with pytest.raises(WeightsError) as error:
        hub.load("resnet20", weights=str(hostile))
    message = str(error.value)
    assert str(hostile) in message and f"predictions/{bias_name}" in message and "secret.bin" in message


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_keras_file_with_weights_in_external_storage_is_refused_before_keras_opens_it(tmp_path, compression):
    import keras

    import hub_core as hub
    from hub_core.saving import save_model

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16, name="dense")])
    good = tmp_path / "good.keras"
    save_model(model, good)
    np.testing.assert_array_equal(hub.load(str(good)).get_layer("dense").weights[1].numpy(), np.zeros(16))
    with zipfile.ZipFile(good) as archive:
        (tmp_path / "inner.h5").write_bytes(archive.read("model.weights.h5"))
        members = {name: archive.read(name) for name in archive.namelist() if name != "model.weights.h5"}
    with h5py.File(tmp_path / "inner.h5", "r") as handle:
        bias = next(name for name in _datasets(handle) if handle[name].shape == (16,))
    _replace(tmp_path / "inner.h5", bias, _external_storage(tmp_path))
    hostile = tmp_path / "hostile.keras"
    with zipfile.ZipFile(hostile, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.write(tmp_path / "inner.h5", "model.weights.h5")
    with pytest.raises(WeightsError) as error:
        hub.load(str(hostile))
    assert f"{hostile}:model.weights.h5" in str(error.value) and bias in str(error.value)
    # A plugin that unpacks the weights itself (fast_style's transform networks) checks them first too.
    from hub_plugins.fast_style.weights import read_arrays

    with pytest.raises(WeightsError) as error:
        read_arrays(hostile)
    assert f"{hostile}:model.weights.h5" in str(error.value)


def _datasets(handle) -> list[str]:
    found = []
    handle.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset) else None)
    return found


# --- declared sizes (item 2) -------------------------------------------------------------------
def _reduce_pickle(call: bytes, *args: bytes) -> bytes:
    """A protocol-2 pickle of ``{"conv1": [call(*args), call(*args)]}`` built by hand."""
    return b"\x80\x02}X\x05\x00\x00\x00conv1](" + (call + b"(" + b"".join(args) + b"tR") * 2 + b"es."


def _npy_with_pickle(path, payload: bytes) -> pathlib.Path:
    """A ``.npy`` whose object array is ``payload`` (what ``np.save`` of a dict writes)."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(payload)
    return pathlib.Path(path)


_CONVERT = (
    "import pathlib; from hub_core.store.converters import convert_once; "
    "from hub_plugins.alexnet.weights import read_bvlc_alexnet, TAG; "
    "convert_once(pathlib.Path({path!r}), read_bvlc_alexnet, TAG)"
)


@pytest.mark.parametrize(
    "payload, expected",
    [
        (_reduce_pickle(b"cnumpy\nndarray\n", b"J\x00\xe1\xf5\x05\x85", b"X\x02\x00\x00\x00u1"), "100000000-byte array"),
        (_reduce_pickle(b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\nndarray\n", b"J\x00\xe1\xf5\x05\x85",
                        b"X\x02\x00\x00\x00u1"), "100000000-byte array"),
    ],
    ids=["ndarray", "_reconstruct"],
)
def test_bvlc_npy_asking_for_arrays_it_does_not_hold_is_refused_and_converts_nothing(tmp_path, payload, expected):
    path = _npy_with_pickle(tmp_path / "bvlc_alexnet.npy", payload)
    assert path.stat().st_size < 400
    result = _in_child(_CONVERT.format(path=str(path)), home=tmp_path / "home")
    assert result["error"] == "WeightsError" and str(path) in result["message"] and expected in result["message"]
    assert result["maxrss_mb"] < MEMORY_BOUND_MB
    assert [p for p in (tmp_path / "home").rglob("*") if p.is_file()] == []


def test_object_array_with_a_short_state_is_refused_not_crashed_on(tmp_path):
    """numpy's ``__setstate__`` trusts an object array's shape; unchecked, this pickle kills the process."""
    honest = pickle.dumps(np.array([7], dtype=object), protocol=2)
    state = b"(K\x01K\x01\x85"  # BUILD's (version 1, shape (1,), ...
    assert honest.count(state) == 1
    path = tmp_path / "w.pkl"
    path.write_bytes(honest.replace(state, b"(K\x01J\x00\xca\x9a\x3b\x85"))  # ... shape (10**9,), one element
    result = _in_child(f"from hub_core.store.readers.pickle import load_pickled_arrays; load_pickled_arrays({str(path)!r})")
    assert result["error"] == "WeightsError" and str(path) in result["message"] and "data of another size" in result["message"]


def test_pickle_repeating_one_array_cannot_multiply_the_conversion(tmp_path):
    shared = np.arange(1 << 20, dtype="uint8")
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, {f"conv{i}": [shared, shared] for i in range(100)})  # 1 MiB on disk, 800 MiB as float32
    assert path.stat().st_size < 2 << 20
    result = _in_child(_CONVERT.format(path=str(path)), home=tmp_path / "home")
    assert result["error"] == "WeightsError" and str(path) in result["message"] and "repeats arrays" in result["message"]
    assert result["maxrss_mb"] < MEMORY_BOUND_MB
    assert [p for p in (tmp_path / "home").rglob("*") if p.is_file()] == []


def test_pickle_with_a_forged_byte_count_reads_nothing_of_it(tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc")  # BINBYTES8 of 1 TiB, 3 bytes present
    result = _in_child(f"from hub_core.store.readers.pickle import load_pickled_arrays; load_pickled_arrays({str(path)!r})")
    assert result["error"] == "WeightsError" and str(path) in result["message"]
    assert result["maxrss_mb"] < MEMORY_BOUND_MB


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_h5_declaring_a_dataset_it_does_not_hold_is_refused_even_outside_the_model(tmp_path, compression):
    path = _dense_h5(tmp_path)
    with h5py.File(path, "r+") as handle:  # a layer no model has: read_weights reads every layer of the file
        handle.create_dataset("unused/big", (20000, 20000), "float32", compression=compression,
                              chunks=(1000, 1000) if compression else None)
    assert path.stat().st_size < 20_000
    result = _in_child(f"from hub_core.store.readers.hdf5 import read_weights; read_weights({str(path)!r})")
    assert result["error"] == "WeightsError" and str(path) in result["message"]
    assert "'unused/big' declares 1600000000 bytes" in result["message"]
    assert result["maxrss_mb"] < MEMORY_BOUND_MB


def test_npy_header_declaring_more_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / "w.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (400_000_000,)})
        handle.write(bytes(64))
    result = _in_child(f"from hub_core.store.readers.numpy import load_npz; load_npz({str(path)!r})")
    assert result["error"] == "WeightsError" and str(path) in result["message"] and "declares 1600000000 bytes" in result["message"]
    assert result["maxrss_mb"] < MEMORY_BOUND_MB


def test_compressed_npz_expanding_past_the_ratio_is_refused_from_its_zip_headers(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("kernel.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (32 << 20,)})
            for _ in range(8):
                member.write(bytes(16 << 20))  # 128 MiB of zeros, about 130 KB compressed
    assert path.stat().st_size < 1 << 20
    result = _in_child(f"from hub_core.store.readers.numpy import load_npz; load_npz({str(path)!r})")
    assert result["error"] == "WeightsError" and str(path) in result["message"]
    assert "'kernel.npy' declares 134217728 bytes" in result["message"] and "compressed" in result["message"]
    assert result["maxrss_mb"] < MEMORY_BOUND_MB


def test_forged_checkpoint_is_skipped_for_the_previous_one(tmp_path):
    """A checkpoint with a matching recorded hash whose header declares 4 TiB (unchecked: a raw MemoryError)."""
    from hub_core.files import sha256_file
    from hub_core.saving import read_json
    from hub_core.training.runs import RunDir

    run = RunDir(tmp_path)
    run.save_checkpoint({"epoch": 0, "step": 1, "global_step": 1}, {"w": np.ones(3)})
    run.save_checkpoint({"epoch": 0, "step": 2, "global_step": 2}, {"w": np.full(3, 2.0)})
    forged = run.checkpoints / run.manifest()["checkpoints"][-1]["file"]
    with open(forged, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)})
    manifest = read_json(run.checkpoints / "manifest.json")
    manifest["checkpoints"][-1]["sha256"] = sha256_file(forged)
    (run.checkpoints / "manifest.json").write_text(json.dumps(manifest))
    entry, arrays = run.latest_checkpoint()
    assert entry["step"] == 1 and arrays["w"].tolist() == [1.0, 1.0, 1.0]


def test_compressed_npz_of_real_weights_still_reads(tmp_path):
    rng = np.random.default_rng(0)
    kernel, bias = rng.standard_normal((64, 64)).astype("float32"), np.zeros(1000, "float32")
    np.savez_compressed(tmp_path / "w.npz", **{"dense/0": kernel, "dense/1": bias})
    arrays = read_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(arrays["dense"][0], kernel)
    np.testing.assert_array_equal(arrays["dense"][1], bias)


def test_total_budget_is_a_setting(tmp_path, monkeypatch):
    np.savez(tmp_path / "w.npz", kernel=np.ones(1000, "float32"))
    assert load_npz(tmp_path / "w.npz")["kernel"].shape == (1000,)
    monkeypatch.setenv("HUB_CORE_MAX_WEIGHTS_BYTES", "3999")
    with pytest.raises(WeightsError, match="HUB_CORE_MAX_WEIGHTS_BYTES") as error:
        load_npz(tmp_path / "w.npz")
    assert str(tmp_path / "w.npz") in str(error.value)
    path = _dense_h5(tmp_path)  # 112 bytes of arrays
    read_weights(path)
    monkeypatch.setenv("HUB_CORE_MAX_WEIGHTS_BYTES", "111")
    with pytest.raises(WeightsError, match="more than 111 bytes"):
        read_weights(path)
    monkeypatch.setenv("HUB_CORE_MAX_WEIGHTS_BYTES", "lots")
    with pytest.raises(InvalidArgumentError, match="HUB_CORE_MAX_WEIGHTS_BYTES='lots' is not a positive number"):
        load_npz(tmp_path / "w.npz")


def test_memory_error_while_reading_is_a_weights_error(tmp_path, monkeypatch):
    from hub_core.store.readers import hdf5, pickle as pickle_reader

    def exhausted(*args, **kwargs):
        raise MemoryError

    path = _dense_h5(tmp_path)
    monkeypatch.setattr(hdf5, "_read_legacy_h5", exhausted)
    with pytest.raises(WeightsError, match=f"Ran out of memory reading {path}"):
        read_weights(path)
    np.save(tmp_path / "w.npy", {"conv1": [np.ones(3, "float32")]})
    monkeypatch.setattr(pickle_reader._RestrictedUnpickler, "load", exhausted)
    with pytest.raises(WeightsError, match="Ran out of memory reading"):
        pickle_reader.load_pickled_arrays(tmp_path / "w.npy")
    np.savez(tmp_path / "w.npz", kernel=np.ones(3, "float32"))
    monkeypatch.setattr(np, "load", exhausted)
    with pytest.raises(WeightsError, match="Ran out of memory reading"):
        load_npz(tmp_path / "w.npz")
