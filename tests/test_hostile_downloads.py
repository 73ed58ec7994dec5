"""Hostile and broken downloads (issue 13, items 3-8), each against a real local HTTP server.

Every case builds its hostile server or file here and asserts the outcome:
the error class, the file named in the message, and what is left in the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from hub_core import config
from hub_core.errors import ChecksumError, WeightsError
from hub_core.files import atomic_path, atomic_write
from hub_core.hub.plugin import WeightFile
from hub_core.store import cache
from hub_core.store import download as weights
from hub_core.store import transfer
from hub_core.testing.http_server import FileServer
from test_weights import cache_listing, publish


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch, hub_home):
    monkeypatch.setattr(transfer, "BACKOFF_SECONDS", 0.01)


def child(code: str, *args: str, **kwargs) -> subprocess.Popen:
    """Start a Python child process running ``code`` with ``args`` (the test's environment)."""
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


# -- 3. no more bytes than expected --------------------------------------------------
def test_a_stream_longer_than_the_published_size_is_cut_and_refused(http_server):
    data, sha = publish(http_server, "w.bin", size=100_000)
    http_server.fault("w.bin", "overflow", extra=64 << 20)  # no Content-Length, 64 MiB of junk after the file
    with pytest.raises(WeightsError) as error:
        weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha, size=len(data)))
    message = str(error.value)
    assert type(error.value) is WeightsError and message.startswith(f"Refused w.bin from {http_server.url('w.bin')}")
    assert "sent more than the 100000 bytes expected" in message
    assert cache_listing() == [] and http_server.count("w.bin") == 1  # refused, not retried


def test_a_content_length_above_the_published_size_is_refused_before_reading(http_server):
    data, sha = publish(http_server, "w.bin", size=100_000)
    http_server.fault("w.bin", "overflow", extra=64 << 20, announce=True)
    with pytest.raises(WeightsError, match=f"announces {len(data) + (64 << 20)} bytes, more than the published 100000"):
        weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha, size=len(data)))
    assert cache_listing() == [] and http_server.count("w.bin") == 1


# -- 4. deadlines --------------------------------------------------------------------
def test_a_dripping_server_is_abandoned_at_the_files_deadline(http_server, monkeypatch):
    data, sha = publish(http_server, "w.bin", size=40)
    http_server.fault("w.bin", "slow", rate=2)  # one byte every 0.5 s: 20 s for the file, each read within the timeout
    monkeypatch.setenv(config.TIMEOUT.name, "0.5")  # deadline: 4 x 0.5 s + 40 bytes at 64 KiB/s
    with pytest.raises(WeightsError) as error:
        weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha))
    message = str(error.value)
    assert message.startswith(f"Gave up downloading w.bin from {http_server.url('w.bin')} after ")
    assert "HUB_CORE_TIMEOUT=0.5 allows a file 4 x 0.5 s of waiting plus 1 s per 64 KiB" in message
    part = cache.part_path(cache.slot_path(http_server.url("w.bin"), "w.bin"))
    assert 0 < part.stat().st_size < len(data) / 2  # cut off far from the end, and kept to resume later
    assert cache_listing() == [".part", ".part.json"]


HOLD_LOCK = """
import pathlib, sys, time
from hub_core.store import cache
with cache.lock(pathlib.Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_process_waiting_for_anothers_download_gives_up_with_a_sentence(http_server, monkeypatch):
    _, sha = publish(http_server, "w.bin", size=1000)
    url = http_server.url("w.bin")
    holder = child(HOLD_LOCK, str(cache.slot_path(url, "w.bin")))
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setenv(config.TIMEOUT.name, "0.2")
        with pytest.raises(WeightsError) as error:
            weights.fetch_file(WeightFile(url, sha256=sha))
    finally:
        holder.kill()
        holder.communicate()
    message = str(error.value)
    assert message.startswith("Gave up after ")
    assert f"waiting for another process to download w.bin from {url}" in message
    assert str(cache.lock_path(cache.slot_path(url, "w.bin"))) in message and "HUB_CORE_TIMEOUT" in message
    assert http_server.count() == 0 and cache_listing() == []


# -- 5. one slot per URL --------------------------------------------------------------
def test_two_urls_with_one_file_name_never_share_a_slot(http_server, monkeypatch):
    for folder in ("good", "wrong"):
        (http_server.directory / folder).mkdir()
    good_data, good_sha = publish(http_server, "good/same.bin", seed=1)
    wrong_data, _ = publish(http_server, "wrong/same.bin", seed=2)
    good = weights.fetch_file(WeightFile(http_server.url("good/same.bin"), sha256=good_sha))
    wrong = weights.fetch_location(http_server.url("wrong/same.bin"))  # unverified: no hash given
    assert good != wrong and good.name == wrong.name == "same.bin"
    assert good.read_bytes() == good_data and wrong.read_bytes() == wrong_data
    os.utime(wrong)  # hashed again on the next use: the record stays honest about what was verified
    assert weights.fetch_location(http_server.url("wrong/same.bin")) == wrong
    assert cache.read_record(good)["verified"] and not cache.read_record(wrong)["verified"]
    assert [(e["name"], e["url"]) for e in cache.cache_entries()] == sorted(
        [("same.bin", http_server.url("good/same.bin")), ("same.bin", http_server.url("wrong/same.bin"))],
        key=lambda entry: cache.slot_path(entry[1], "same.bin").parent.name)
    monkeypatch.setenv(config.OFFLINE.name, "1")
    assert weights.fetch_file(WeightFile(http_server.url("good/same.bin"), sha256=good_sha)) == good
    assert http_server.count() == 2


def test_files_of_the_flat_layout_are_adopted_only_when_they_are_this_urls_file(http_server, monkeypatch):
    data, sha = publish(http_server, "w.bin")
    flat = cache.legacy_path("w.bin")
    flat.parent.mkdir(parents=True)
    flat.write_bytes(b"another file of the same name")
    path = weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha))
    assert path.read_bytes() == data and http_server.count() == 1  # the wrong bytes were not taken
    assert flat.read_bytes() == b"another file of the same name"
    other = publish(http_server, "other.bin", seed=3)
    flat.write_bytes(other[0])
    monkeypatch.setenv(config.OFFLINE.name, "1")
    moved = weights.fetch_file(WeightFile("http://old.example/other.bin", sha256=other[1], file_name="w.bin"))
    assert moved == cache.slot_path("http://old.example/other.bin", "w.bin") and moved.read_bytes() == other[0]
    assert not flat.exists() and cache.read_record(moved)["verified"] and http_server.count() == 1


# -- 6. resume across processes ------------------------------------------------------
DOWNLOAD = """
import sys
from hub_core.store import download as weights
from hub_core.hub.plugin import WeightFile
weights.fetch_file(WeightFile(sys.argv[1], sha256=sys.argv[2], size=int(sys.argv[3])), progress=False)
"""


def test_a_download_killed_by_sigkill_is_resumed_by_the_next_process(http_server):
    data, sha = publish(http_server, "w.bin", size=600_000)
    url, half = http_server.url("w.bin"), 300_000
    http_server.fault("w.bin", "stall", times=1, keep=half, delay=30)
    downloader = child(DOWNLOAD, url, sha, str(len(data)))
    part = cache.part_path(cache.slot_path(url, "w.bin"))
    for _ in range(3000):
        if part.is_file() and part.stat().st_size == half:
            break
        time.sleep(0.01)
    downloader.send_signal(signal.SIGKILL)
    downloader.communicate()
    assert downloader.returncode == -signal.SIGKILL and part.stat().st_size == half
    first_etag = json.loads(part.with_name(".part.json").read_text())["validator"]
    path = weights.fetch_file(WeightFile(url, sha256=sha, size=len(data)))
    assert path.read_bytes() == data
    resumed = http_server.requests[-1]
    assert resumed.headers["Range"] == f"bytes={half}-" and resumed.headers["If-Range"] == first_etag
    assert (resumed.status, resumed.sent) == (206, len(data) - half)
    assert cache_listing() == ["w.bin"]


def test_a_partial_file_is_resumed_only_when_it_is_still_the_same_file(http_server):
    data, sha = publish(http_server, "w.bin", size=50_000)
    url = http_server.url("w.bin")
    part = cache.part_path(cache.slot_path(url, "w.bin"))
    part.parent.mkdir(parents=True)
    for validator, expected_sha, sent_range, status in (('"changed since"', sha, "bytes=1000-", 200),
                                                       ('"x"', "f" * 64, None, 200)):
        part.write_bytes(b"?" * 1000)
        part.with_name(".part.json").write_text(json.dumps(
            {"source": url, "sha256": expected_sha, "md5": None, "validator": validator}))
        assert weights.fetch_file(WeightFile(url, sha256=sha)).read_bytes() == data
        request = http_server.requests[-1]
        assert (request.range, request.headers.get("If-Range"), request.status) == (
            sent_range, validator if sent_range else None, status)
        cache.clear_cache()
        part.parent.mkdir(parents=True)
    assert http_server.count() == 2


# -- 7. diagnostics ------------------------------------------------------------------
DISK_FULL = """
import resource, signal, sys
from hub_core.errors import HubError
from hub_core.store import download as weights
from hub_core.hub.plugin import WeightFile
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG (errno 27) instead
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    weights.fetch_file(WeightFile(sys.argv[1], sha256=sys.argv[2]), progress=False)
except HubError as error:
    print(type(error).__name__, error)
"""


def test_a_full_disk_is_one_sentence_about_the_disk_and_is_not_retried(http_server):
    _, sha = publish(http_server, "w.bin", size=300_000)
    process = child(DISK_FULL, http_server.url("w.bin"), sha)
    out, err = process.communicate(timeout=60)
    folder = cache.slot_path(http_server.url("w.bin"), "w.bin").parent
    assert out.startswith(f"WeightsError Could not write w.bin in {folder}: the disk is full or refuses a file this "
                          "large (File too large); free space there or set HUB_CORE_HOME to a disk with room"), err
    assert out.count("\n") == 1 and "network" not in out
    assert http_server.count("w.bin") == 1 and cache_listing() == []


def test_every_source_tried_is_named_when_upstream_then_404s(http_server, tmp_path, monkeypatch):
    data, sha = publish(http_server, "w.bin")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "w.bin").write_bytes(b"!" + data[1:])
    with FileServer(tmp_path / "bad") as mirror:
        monkeypatch.setenv(config.MIRROR.name, mirror.base_url)
        (http_server.directory / "w.bin").unlink()
        with pytest.raises(WeightsError) as error:
            weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha))
        mirror_url = mirror.url("w.bin")
    wrong = hashlib.sha256(b"!" + data[1:]).hexdigest()
    assert type(error.value) is WeightsError and str(error.value) == (
        f"Could not download w.bin: {http_server.url('w.bin')} answered 404; check the URL or the weight set "
        f"(tried first: {mirror_url} has sha256 {wrong}, expected {sha}).")
    assert cache_listing() == []


def test_a_mirror_that_404s_is_named_when_upstream_has_the_wrong_bytes(http_server, tmp_path, monkeypatch):
    _, sha = publish(http_server, "w.bin")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(config.MIRROR.name, str(tmp_path / "empty"))
    with pytest.raises(ChecksumError) as error:
        weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256="0" * 64))
    assert str(error.value).endswith(f"(tried first: {tmp_path / 'empty' / 'w.bin'} does not exist).")
    assert f"sha256 {sha}, expected {'0' * 64}" in str(error.value)


# -- 8. modes and read-only caches ---------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_mode_of_open_under_the_umask(tmp_path, umask, http_server):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "run.json", b"{}")
        with atomic_path(tmp_path / "model.weights.h5") as temp:
            temp.write_bytes(b"h5")
        with open(tmp_path / "plain", "w"):
            pass
        data, sha = publish(http_server, "w.bin", size=1000)
        path = weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha))
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run.json", tmp_path / "model.weights.h5",
                                                       path, cache.record_path(path))}
    assert modes == {stat.S_IMODE((tmp_path / "plain").stat().st_mode)} == {0o666 & ~umask}


OFFLINE_LOAD = """
import sys
from hub_core.errors import HubError
from hub_core.store import cache, download as weights
from hub_core.hub.plugin import WeightFile
print(weights.fetch_file(WeightFile(sys.argv[1], sha256=sys.argv[2])))
print(cache.cache_entries()[0]["sha256"])  # None when the record is private to its writer
try:
    weights.fetch_file(WeightFile(sys.argv[1] + ".missing", sha256=sys.argv[2]))
except HubError as error:
    print(type(error).__name__, error)
"""


def _as_nobody() -> list[str] | None:
    """The command prefix that runs a program as the user nobody, when the tests run as root."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


@pytest.mark.skipif(_as_nobody() is None, reason="needs root and setpriv, to run a second user (nobody)")
def test_a_second_user_loads_from_a_shared_read_only_cache(http_server, monkeypatch):
    shared = tempfile.mkdtemp(prefix="hub-shared-")  # pytest's tmp_path is private to root
    try:
        os.chmod(shared, 0o755)
        monkeypatch.setenv(config.HOME.name, shared)
        data, sha = publish(http_server, "w.bin", size=1000)
        path = weights.fetch_file(WeightFile(http_server.url("w.bin"), sha256=sha))
        shutil.rmtree(cache.weights_dir() / ".locks")
        stale = os.stat(path)
        os.utime(path, ns=(stale.st_atime_ns, stale.st_mtime_ns + 10**9))  # the record no longer matches: re-hashed
        before = sorted(p.relative_to(shared) for p in cache.weights_dir().rglob("*"))
        env = {**os.environ, config.HOME.name: shared, config.OFFLINE.name: "1"}
        result = subprocess.run([*_as_nobody(), sys.executable, "-c", OFFLINE_LOAD, http_server.url("w.bin"), sha],
                                env=env, capture_output=True, text=True, timeout=60, cwd=shared)
        loaded, recorded, missing = result.stdout.splitlines()
        assert (result.returncode, loaded, recorded, result.stderr) == (0, str(path), sha, "")
        assert missing.startswith("OfflineError w.bin.missing is not in the cache")  # not a PermissionError
        assert sorted(p.relative_to(shared) for p in cache.weights_dir().rglob("*")) == before  # nothing written
        assert path.read_bytes() == data
    finally:
        shutil.rmtree(shared)
