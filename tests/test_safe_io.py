"""Readers of foreign formats refuse code execution and paths outside the target."""

from __future__ import annotations

import builtins
import io
import os
import pathlib
import pickle
import re
import stat
import tarfile
import zipfile

import numpy as np
import pytest

from hub_core.errors import WeightsError
from hub_core.store.readers.archives import extract_archive
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


def _tar(path, members):
    """Write a tar.gz whose members are (TarInfo, bytes | None)."""
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def test_tar_and_zip_extract_regular_files(tmp_path):
    archive = _tar(tmp_path / "w.tar.gz", [(_info("model", tarfile.DIRTYPE), None), (_info("model/w.npy"), b"abc"),
                                           (_info("./notes.txt"), b"hello")])
    written = extract_archive(archive, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["model/w.npy", "notes.txt"]
    assert (tmp_path / "out/model/w.npy").read_bytes() == b"abc"
    with zipfile.ZipFile(tmp_path / "w.zip", "w") as archive:
        archive.writestr("dir/w.h5", b"xyz")
    assert extract_archive(tmp_path / "w.zip", tmp_path / "zout") == [tmp_path / "zout/dir/w.h5"]
    assert (tmp_path / "zout/dir/w.h5").read_bytes() == b"xyz"


@pytest.mark.parametrize(
    "member, reason",
    [
        (_info("../evil.txt"), "outside"),
        (_info("model/../../evil.txt"), "outside"),
        (_info("/tmp/evil.txt"), "outside"),
        (_info("link", tarfile.SYMTYPE, "/etc/passwd"), "a link"),
        (_info("hard", tarfile.LNKTYPE, "model/w.npy"), "a link"),
        (_info("dev", tarfile.CHRTYPE), "device"),
        (_info("fifo", tarfile.FIFOTYPE), "device"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "chardev", "fifo"],
)
def test_tar_refuses_unsafe_members_before_writing_anything(tmp_path, member, reason):
    data = b"evil" if member.isreg() else None
    archive = _tar(tmp_path / "bad.tar.gz", [(_info("model/w.npy"), b"abc"), (member, data)])
    target = tmp_path / "deep" / "out"
    with pytest.raises(WeightsError, match=reason):
        extract_archive(archive, target)
    assert not target.exists()
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "C:/evil.txt"])
def test_zip_refuses_paths_outside_target(tmp_path, name):
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
        archive.writestr(name, b"evil")
    with pytest.raises(WeightsError, match="outside"):
        extract_archive(tmp_path / "bad.zip", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_zip_refuses_symlinks(tmp_path):
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(WeightsError, match="a link"):
        extract_archive(tmp_path / "bad.zip", tmp_path / "out")


def test_non_archive_is_refused(tmp_path):
    (tmp_path / "w.h5").write_bytes(b"\x89HDF not an archive")
    with pytest.raises(WeightsError, match="neither a tar nor a zip"):
        extract_archive(tmp_path / "w.h5", tmp_path / "out")


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
