"""``hub download`` and ``hub cache ls|verify|clear`` in a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from hub_core.cli.main import build_parser
from hub_core.store import cache

HUB = [sys.executable, "-m", "hub_core.cli"]


def hub(*args, env=None):
    return subprocess.run([*HUB, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_download_ls_verify_clear(http_server, hub_home):
    data = b"weights " * 4096
    (http_server.directory / "w.h5").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()

    result = hub("download", http_server.url("w.h5"), "--sha256", sha)
    assert result.returncode == 0, result.stderr
    path = cache.slot_path(http_server.url("w.h5"), "w.h5")
    assert path.parent.parent == hub_home / "weights"
    assert result.stdout.strip() == str(path) and path.read_bytes() == data
    assert result.stderr == ""  # no progress bar when stderr is not a terminal

    listing = json.loads(hub("cache", "ls", "--json").stdout)
    assert listing["cache"] == str(hub_home / "weights")
    assert [(f["name"], f["size"], f["sha256"]) for f in listing["files"]] == [("w.h5", len(data), sha)]
    table = hub("cache", "ls").stdout.splitlines()
    assert table[1].split() == ["FILE", "SIZE", "SHA256", "SOURCE"] and table[2].startswith("w.h5 ")

    assert hub("cache", "verify").returncode == 0
    path.write_bytes(b"!" + data[1:])
    result = hub("cache", "verify")
    assert result.returncode == 1 and "corrupt" in result.stdout and "hub cache clear" in result.stdout

    result = hub("cache", "clear", "w.h5", "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == [{"name": "w.h5", "size": len(data)}]
    assert not path.exists()
    assert http_server.count("w.h5") == 1


def test_converted_files_are_listed_verified_and_cleared(http_server, hub_home):
    import pickle

    import numpy as np

    from hub_core.store import converters

    # A pickled weight dict downloaded into the cache, then converted once to .npz as the caffe plugins do.
    payload = pickle.dumps({"conv1": [np.arange(6, dtype="float32").reshape(2, 3), np.ones(3, "float32")]})
    (http_server.directory / "net.npy").write_bytes(payload)
    assert hub("download", http_server.url("net.npy"), "--sha256", hashlib.sha256(payload).hexdigest()).returncode == 0
    source = cache.slot_path(http_server.url("net.npy"), "net.npy")
    target = converters.convert_once(source, lambda path: pickle.loads(path.read_bytes()), "test")
    assert target.parent == hub_home / "converted" and target.name.startswith("net-test-")

    listing = json.loads(hub("cache", "ls", "--json").stdout)["files"]
    assert [(f["name"], f["kind"]) for f in listing] == [("net.npy", "download"), (target.name, "converted")]
    assert listing[1]["size"] == target.stat().st_size
    assert "converted from a pickle" in hub("cache", "ls").stdout
    assert hub("cache", "verify").returncode == 0

    data = bytearray(target.read_bytes())
    data[data.index(b"\x93NUMPY") + 140] ^= 0xFF  # a value of the first array (after its 128-byte header)
    target.write_bytes(bytes(data))
    result = hub("cache", "verify", target.name, "--json")
    assert result.returncode == 1 and json.loads(result.stdout)[0]["status"] == "corrupt"

    result = hub("cache", "clear", "--json")
    assert result.returncode == 0
    assert sorted(r["name"] for r in json.loads(result.stdout)) == sorted(["net.npy", target.name])
    assert not target.exists() and not source.exists()


def test_errors_are_one_line_without_traceback(http_server, hub_home):
    (http_server.directory / "w.h5").write_bytes(b"abc")
    cases = [
        (("download", http_server.url("w.h5"), "--sha256", "0" * 64), "expected " + "0" * 64),
        (("download", "vgg16", "--weights", "imagenett"), "Did you mean: imagenet"),
        (("download", http_server.url("..%2Fescape.h5")), "Refused the file name"),
        (("cache", "clear", "vgg17"), "Did you mean:"),
    ]
    for args, expected in cases:
        result = hub(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("hub: error: ") and expected in result.stderr
        assert "Traceback" not in result.stderr
    result = hub("download", "vgg16", env={"HUB_CORE_OFFLINE": "1"})
    assert result.returncode == 1 and "HUB_CORE_OFFLINE=1" in result.stderr and result.stderr.count("\n") == 1
    assert cache.cached_downloads() == [] and http_server.count() == 1


@pytest.mark.parametrize("args", [("download",), ("cache",), ("cache", "ls"), ("cache", "verify"), ("cache", "clear")])
def test_help_for_every_cache_command(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*args, "--help"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith(f"usage: hub {' '.join(args)}")
