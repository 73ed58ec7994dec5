"""The weights store against a real HTTP server with injected faults."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from hub_core import api
from hub_core.hub import catalog

from hub_core import config
from hub_core.store import cache
from hub_core.store import download as weights
from hub_core.store import transfer
from hub_core.errors import ChecksumError, OfflineError, UnknownNameError, WeightsError
from hub_core.hub.plugin import WeightFile
from hub_core.testing.http_server import FileServer


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch, hub_home):
    monkeypatch.setattr(transfer, "BACKOFF_SECONDS", 0.01)


def publish(server, name, size=200_000, seed=0):
    """Put a random file on ``server``; return its bytes and sha256."""
    data = hashlib.sha256(f"{seed}".encode()).digest() * (size // 32) + b"x" * (size % 32)
    (server.directory / name).write_bytes(data)
    return data, hashlib.sha256(data).hexdigest()


def cache_listing():
    """Every file under the weights folder except locks and records (partial downloads included)."""
    folder = cache.weights_dir()
    files = folder.rglob("*") if folder.exists() else []
    return sorted(p.name for p in files if p.is_file() and p.parent.name != ".locks" and p.name != ".record.json")


def test_download_is_verified_cached_and_recorded(http_server):
    data, sha = publish(http_server, "w.h5")
    path = weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha, size=len(data)))
    assert path == cache.slot_path(http_server.url("w.h5"), "w.h5") and path.read_bytes() == data
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)) == path
    assert http_server.count("w.h5") == 1
    record = json.loads((path.parent / ".record.json").read_text())
    assert record["sha256"] == sha and record["size"] == len(data) and record["verified"]
    assert cache_listing() == ["w.h5"]


def test_dropped_connection_is_resumed_with_range(http_server):
    data, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "drop", times=2, keep=60_000)
    path = weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    assert path.read_bytes() == data
    log = http_server.requests
    assert [(r.range, r.status) for r in log] == [(None, 200), ("bytes=60000-", 206), ("bytes=120000-", 206)]
    assert sum(r.sent for r in log) == len(data)  # resumed, never restarted


def test_truncated_response_is_resumed_when_the_size_is_known(http_server):
    data, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "truncate", times=1)
    path = weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha, size=len(data)))
    assert path.read_bytes() == data
    assert [r.range for r in http_server.requests] == [None, f"bytes={len(data) // 2}-"]


def test_truncated_response_without_size_fails_verification_and_leaves_nothing(http_server):
    _, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "truncate", times=1)
    with pytest.raises(ChecksumError) as error:
        weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    assert "w.h5" in str(error.value) and sha in str(error.value)
    assert cache_listing() == []


def test_wrong_bytes_name_the_file_and_both_hashes_and_leave_nothing(http_server):
    data, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "corrupt", times=1)
    with pytest.raises(ChecksumError) as error:
        weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    message = str(error.value)
    assert "w.h5" in message and sha in message and hashlib.sha256(corrupted).hexdigest() in message
    assert cache_listing() == []
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)).read_bytes() == data


def test_server_ignoring_range_restarts_the_file(http_server):
    data, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "drop", times=1, keep=50_000)
    http_server.fault("w.h5", "ignore_range", times=1)
    path = weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    assert path.read_bytes() == data  # not 50,000 stale bytes + the whole file
    assert [(r.range, r.status, r.sent) for r in http_server.requests] == [
        (None, 200, 50_000), ("bytes=50000-", 200, len(data))]


def test_slow_server_times_out_then_the_retry_succeeds(http_server, monkeypatch):
    data, sha = publish(http_server, "w.h5")
    monkeypatch.setenv("HUB_CORE_TIMEOUT", "1")
    http_server.fault("w.h5", "slow", times=1, delay=2.5)
    path = weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    assert path.read_bytes() == data
    assert http_server.requests[0].fault == "slow" and http_server.count("w.h5") >= 2


def test_throttled_body_arrives_whole(http_server):
    data, sha = publish(http_server, "w.h5", size=100_000)
    http_server.fault("w.h5", "slow", rate=400_000)
    start = time.perf_counter()
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)).read_bytes() == data
    assert time.perf_counter() - start >= 0.2 and http_server.count("w.h5") == 1


def test_server_errors_are_retried_then_reported(http_server):
    _, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "status", status=503)
    with pytest.raises(WeightsError, match=f"after {weights.ATTEMPTS} attempts"):
        weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    assert http_server.count("w.h5") == weights.ATTEMPTS
    assert cache_listing() == []
    with pytest.raises(WeightsError, match="404"):
        weights.fetch_file(WeightFile(http_server.url("missing.h5"), sha256=sha))
    assert http_server.count("missing.h5") == 1  # a 404 is not retried


def test_dropping_every_attempt_keeps_a_resumable_partial_file(http_server):
    data, sha = publish(http_server, "w.h5")
    http_server.fault("w.h5", "drop", keep=1000)
    with pytest.raises(WeightsError, match="attempts"):
        weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    assert cache_listing() == [".part", ".part.json"]  # no cached file, but the bytes are kept for the next try
    http_server.clear_faults()
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)).read_bytes() == data
    assert http_server.requests[-1].range == f"bytes={weights.ATTEMPTS * 1000}-"
    assert cache_listing() == ["w.h5"]


WORKER = """
import sys, time, pathlib
from hub_core.store import download as weights
from hub_core.store import transfer
from hub_core.hub.plugin import WeightFile
go = pathlib.Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
print(weights.fetch_file(WeightFile(sys.argv[1], sha256=sys.argv[2])))
"""


def test_four_processes_download_the_file_once(http_server, tmp_path):
    data, sha = publish(http_server, "w.h5", size=300_000)
    http_server.fault("w.h5", "slow", rate=300_000)  # about a second per download
    go = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, http_server.url("w.h5"), sha, str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    go.touch()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    path = cache.slot_path(http_server.url("w.h5"), "w.h5")
    assert {out.strip() for out, _ in outputs} == {str(path)}
    assert http_server.count("w.h5") == 1
    assert path.read_bytes() == data
    assert cache_listing() == ["w.h5"]


def test_offline_uses_the_cache_and_explains_a_miss(http_server, monkeypatch):
    data, sha = publish(http_server, "w.h5")
    _, other_sha = publish(http_server, "other.h5", seed=1)
    weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    monkeypatch.setenv("HUB_CORE_OFFLINE", "1")
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)).read_bytes() == data
    with pytest.raises(OfflineError) as error:
        weights.fetch_file(WeightFile(http_server.url("other.h5"), sha256=other_sha))
    message = str(error.value)
    assert "HUB_CORE_OFFLINE" in message and str(cache.legacy_path("other.h5")) in message
    assert "HUB_CORE_MIRROR" in message
    assert http_server.count() == 1  # no request while offline
    cache.legacy_path("other.h5").write_bytes((http_server.directory / "other.h5").read_bytes())
    assert weights.fetch_file(WeightFile(http_server.url("other.h5"), sha256=other_sha))  # copied in as advised
    assert http_server.count() == 1


def test_mirror_folder_hit_skips_upstream(http_server, tmp_path, monkeypatch):
    data, sha = publish(http_server, "w.h5")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "w.h5").write_bytes(data)
    monkeypatch.setenv("HUB_CORE_MIRROR", str(mirror))
    monkeypatch.setenv("HUB_CORE_OFFLINE", "1")  # a local mirror works offline
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)).read_bytes() == data
    assert http_server.count() == 0


def test_mirror_url_hit_and_misses_fall_back_in_order(http_server, tmp_path, monkeypatch):
    data, sha = publish(http_server, "w.h5")
    bad, empty = tmp_path / "bad", tmp_path / "empty"
    bad.mkdir()
    empty.mkdir()
    (bad / "w.h5").write_bytes(data[:-1] + b"!")  # a mirror copy with the wrong hash is skipped
    with FileServer(tmp_path / "empty") as missing_mirror:
        monkeypatch.setenv("HUB_CORE_MIRROR", f"{empty} {bad}{os.pathsep}{missing_mirror.base_url} {http_server.base_url}")
        upstream = "http://127.0.0.1:9/unreachable/w.h5"
        assert weights.fetch_file(WeightFile(upstream, sha256=sha)).read_bytes() == data
        assert missing_mirror.count("w.h5") == 1 and http_server.count("w.h5") == 1
    cache.clear_cache()
    monkeypatch.setenv("HUB_CORE_MIRROR", str(empty))
    assert weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha)).read_bytes() == data
    assert http_server.count("w.h5") == 2  # the mirror missed, upstream served


def test_mirror_list_splits_on_pathsep_but_keeps_urls_whole(monkeypatch):
    monkeypatch.setenv("HUB_CORE_MIRROR", "http://m.example:8080/w:/srv/weights  https://b.example/x\t/opt/w")
    if os.pathsep == ":":
        assert config.mirrors() == ["http://m.example:8080/w", "/srv/weights", "https://b.example/x", "/opt/w"]


@pytest.mark.parametrize(
    "url, file_name",
    [
        ("http://127.0.0.1:9/a/..", None),
        ("http://127.0.0.1:9/a/..%2F..%2Fescape.h5", None),
        ("http://127.0.0.1:9/a/%2Ftmp%2Fescape.h5", None),
        ("http://127.0.0.1:9/a/", None),
        ("http://127.0.0.1:9/a/w.h5", "../escape.h5"),
        ("http://127.0.0.1:9/a/w.h5", "/tmp/escape.h5"),
        ("http://127.0.0.1:9/a/w.h5", "sub/escape.h5"),
        ("http://127.0.0.1:9/a/w.h5", ".records"),
    ],
)
def test_unsafe_remote_file_names_are_refused(url, file_name, tmp_path):
    with pytest.raises(WeightsError, match="Refused the file name"):
        weights.fetch_file(WeightFile(url, sha256="0" * 64, file_name=file_name))
    assert cache_listing() == [] and not (tmp_path / "escape.h5").exists()
    with pytest.raises(WeightsError, match="Refused the file name"):
        weights.fetch_location(url if file_name is None else url.replace("w.h5", file_name.replace("/", "%2F")))


def test_md5_only_files_are_verified_with_md5(http_server):
    data, _ = publish(http_server, "w.npy")
    md5 = hashlib.md5(data).hexdigest()
    assert weights.fetch_file(WeightFile(http_server.url("w.npy"), md5=md5)).read_bytes() == data
    cache.clear_cache()
    with pytest.raises(ChecksumError, match=f"md5 {md5}, expected {'f' * 32}"):
        weights.fetch_file(WeightFile(http_server.url("w.npy"), md5="F" * 32))
    assert cache_listing() == []


def test_cached_files_are_hashed_again_only_when_size_or_mtime_change(http_server, monkeypatch):
    data, sha = publish(http_server, "w.h5")
    weight_file = WeightFile(http_server.url("w.h5"), sha256=sha)
    path = weights.fetch_file(weight_file)
    hashed = []
    real_hash = weights.hash_file
    monkeypatch.setattr(weights, "hash_file", lambda p, **kw: hashed.append(p.name) or real_hash(p, **kw))
    weights.fetch_file(weight_file)
    assert hashed == []  # size and mtime unchanged: the record is trusted
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    weights.fetch_file(weight_file)
    assert hashed == ["w.h5"] and http_server.count("w.h5") == 1  # same bytes, record refreshed
    path.write_bytes(data[:-1] + b"!")  # same size, new mtime, wrong bytes
    assert weights.fetch_file(weight_file).read_bytes() == data
    assert http_server.count("w.h5") == 2


def test_corrupt_cached_file_offline_is_a_checksum_error(http_server, monkeypatch):
    data, sha = publish(http_server, "w.h5")
    path = weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    path.write_bytes(b"!" + data[1:])
    monkeypatch.setenv("HUB_CORE_OFFLINE", "1")
    with pytest.raises(ChecksumError, match="hub cache clear w.h5"):
        weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))


def test_user_urls_file_urls_and_paths(http_server, tmp_path):
    data, sha = publish(http_server, "user.h5")
    path = weights.fetch_location(http_server.url("user.h5"))  # no hash: cached by name
    assert path == cache.slot_path(http_server.url("user.h5"), "user.h5") and path.read_bytes() == data
    assert weights.fetch_location(http_server.url("user.h5")) == path and http_server.count() == 1
    with pytest.raises(ChecksumError):
        weights.fetch_location(http_server.url("user.h5"), sha256="0" * 64)
    local = http_server.directory / "user.h5"
    assert weights.fetch_location(str(local), sha256=sha) == local
    assert weights.fetch_location(local.as_uri()) == local
    with pytest.raises(ChecksumError):
        weights.fetch_location(str(local), sha256="0" * 64)
    assert local.exists()  # a user's own file is never deleted
    with pytest.raises(WeightsError, match="does not exist"):
        weights.fetch_location(str(tmp_path / "nope.h5"))


def test_download_url_and_public_api(http_server):
    import hub_core as hub

    data, sha = publish(http_server, "w.h5")
    assert hub.download(http_server.url("w.h5"), sha256=sha, progress=False).read_bytes() == data


@pytest.fixture
def acme_catalog(http_server, tmp_path, monkeypatch):
    """Point the fixture plugin's ``tiny_convnet`` at a two-file weight set on the test server."""
    files = {}
    for role, name, seed in (("default", "tiny.weights.h5", 1), ("notop", "tiny_notop.weights.h5", 2)):
        data, sha = publish(http_server, name, size=5_000, seed=seed)
        files[role] = {"url": http_server.url(name), "sha256": sha, "size": len(data), "role": role}
    weight_set = {"description": "test set", "license": "MIT", "format": "weights_h5", "num_classes": 5,
                  "published": True, "note": "", "source": "", "files": list(files.values())}
    overlay = {"plugins": {"tiny_convnet": {"variants": {"tiny_convnet": {
        "default_weights": "acme",
        "weights": {"acme": weight_set, "private": dict(weight_set, files=[], published=False, note="Ask ACME.")}}}}}}
    path = tmp_path / "acme.json"
    path.write_text(json.dumps(overlay))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(path))
    catalog.refresh()
    yield files
    monkeypatch.delenv("HUB_CORE_REGISTRY")
    catalog.refresh()


def test_download_a_models_weight_set_fetches_every_file(acme_catalog, http_server):
    main = api.download("tiny_convnet", progress=False)
    assert main == cache.slot_path(acme_catalog["default"]["url"], "tiny.weights.h5")
    assert cache_listing() == ["tiny.weights.h5", "tiny_notop.weights.h5"]
    assert api.download("tiny_convnet", weights="acme") == main and http_server.count() == 2
    with pytest.raises(UnknownNameError, match="Did you mean: acme"):
        api.download("tiny_convnet", weights="acm")
    with pytest.raises(UnknownNameError, match="tiny_convnet"):
        api.download("tiny_convnt")
    with pytest.raises(WeightsError, match="'private' of 'tiny_convnet' has no downloadable file: Ask ACME.$"):
        api.download("tiny_convnet", weights="private")
    with pytest.raises(ChecksumError):
        api.download("tiny_convnet", sha256="0" * 64)  # pins the main file; the cached copy does not match
    assert [e["name"] for e in cache.cache_entries(api.cached_files("tiny_convnet"))] == cache_listing()
    for key, model in (("0a1b", "tiny_convnet"), ("2c3d", "other_model")):  # engine exports of two models
        folder = cache.engines_dir() / key
        folder.mkdir(parents=True)
        (folder / "model.xml").write_text("<net/>")
        cache.write_export_record(folder, model, "openvino")
    assert api.cached_files("tiny_convnet") == ["tiny.weights.h5", "tiny_notop.weights.h5", "0a1b"]


def test_cache_management(http_server):
    data, sha = publish(http_server, "a.h5")
    _, sha_b = publish(http_server, "b.h5", seed=1)
    for name, digest in (("a.h5", sha), ("b.h5", sha_b)):
        weights.fetch_file(WeightFile(http_server.url(name), sha256=digest))
    assert [(e["name"], e["sha256"], e["recorded"]) for e in cache.cache_entries()] == [
        ("a.h5", sha, True), ("b.h5", sha_b, True)]
    cache.slot_path(http_server.url("a.h5"), "a.h5").write_bytes(b"!" + data[1:])
    hand = cache.slot_path("http://example.com/hand.h5", "hand.h5")
    hand.parent.mkdir()
    hand.write_bytes(b"copied in by hand")
    assert {r["name"]: r["status"] for r in cache.verify_cache()} == {"a.h5": "corrupt", "b.h5": "ok", "hand.h5": "unknown"}
    assert cache.clear_cache(api.cached_files("a.h5")) == [{"name": "a.h5", "size": len(data)}]
    with pytest.raises(UnknownNameError, match="Did you mean: b.h5"):
        api.cached_files("b.h6")
    assert {r["name"] for r in cache.clear_cache()} == {"b.h5", "hand.h5"}
    assert cache_listing() == [] and [p.name for p in cache.weights_dir().iterdir()] == [".locks"]


def test_clear_removes_leftovers_of_killed_downloads(http_server):
    _, sha = publish(http_server, "w.h5")
    weights.fetch_file(WeightFile(http_server.url("w.h5"), sha256=sha))
    killed = cache.part_path(cache.slot_path(http_server.url("other.h5"), "other.h5"))
    killed.parent.mkdir()
    killed.write_bytes(b"half")
    (cache.weights_dir() / ".other.h5.part").write_bytes(b"half")  # leftovers of the flat layout of earlier versions
    (cache.weights_dir() / ".records").mkdir()
    (cache.weights_dir() / ".records" / "gone.h5.json").write_text("{}")
    assert [r["name"] for r in cache.clear_cache()] == ["w.h5"]
    assert sorted(p.name for p in cache.weights_dir().rglob("*") if p.is_file() and p.suffix != ".lock") == []


def test_progress_bar_only_on_a_terminal(http_server, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    data, sha = publish(http_server, "w.h5")
    for terminal, progress, name in ((True, True, "a"), (True, False, "b"), (False, True, "c")):
        (http_server.directory / f"{name}.h5").write_bytes(data)
        stream = Terminal() if terminal else io.StringIO()
        monkeypatch.setattr(sys, "stderr", stream)
        api.download(http_server.url(f"{name}.h5"), sha256=sha, progress=progress)
        assert (f"{name}.h5" in stream.getvalue()) == (terminal and progress), (terminal, progress)


def test_importing_the_store_does_not_import_tensorflow():
    code = "import sys, hub_core.store.download, hub_core.store.cache, hub_core.store.readers.pickle, hub_core.store.readers.numpy, hub_core.store.readers.budget, hub_core.store.readers.hdf5, hub_core.store.converters, hub_core.config, hub_core.cli.cache; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


# -- the test server itself (third-party plugin authors rely on it) -------------
def test_file_server_ranges_head_404_and_fault_bookkeeping(http_server):
    import urllib.error
    import urllib.request

    data, _ = publish(http_server, "w.h5", size=1000)

    def get(name, range_header=None, method="GET", if_range=None):
        headers = {"Range": range_header} if range_header else {}
        headers.update({"If-Range": if_range} if if_range else {})
        request = urllib.request.Request(http_server.url(name), headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, b""

    status, headers, body = get("w.h5", "bytes=100-199")
    assert (status, headers["Content-Range"], body) == (206, "bytes 100-199/1000", data[100:200])
    assert get("w.h5", "bytes=990-")[2] == data[990:]
    assert get("w.h5", "bytes=1000-")[0] == 416
    etag = headers["ETag"]
    assert get("w.h5", "bytes=990-", if_range=etag)[0] == 206 and get("w.h5", "bytes=990-", if_range='"old"')[0] == 200
    assert http_server.requests[-1].headers["If-Range"] == '"old"'
    status, headers, body = get("w.h5", method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, "1000", b"")
    (http_server.directory.parent / "secret.txt").write_text("not served")
    assert get("../secret.txt")[0] == 404
    http_server.fault("*", "status", times=2, status=500)
    assert [get("w.h5")[0] for _ in range(3)] == [500, 500, 200]
    assert http_server.count("w.h5", method="HEAD") == 1
    assert [r.fault for r in http_server.requests][-3:] == ["status", "status", None]
    with pytest.raises(ValueError, match="Unknown fault"):
        http_server.fault("w.h5", "explode")
    with pytest.raises(ValueError, match="takes no option"):
        http_server.fault("w.h5", "drop", delay=1)
    http_server.reset_log()
    assert http_server.requests == []
