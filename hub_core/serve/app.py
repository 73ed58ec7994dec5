"""The ``hub serve`` web app: catalog, model and run pages, try-it inference and the JSON API behind them.

Built with FastAPI (Starlette) and Jinja2 templates; every asset is served from ``static/`` (no CDN). Routes
declared with ``def`` run in the framework's thread pool, so requests are served concurrently; the loaded models
live in a bounded :class:`~hub_core.serve.models.ModelCache`. Errors come back as one sentence: JSON
``{"detail": ...}`` from the API, a page from the pages, with 404 for an unknown model or run, 413 for an upload
over its byte or pixel limit and 400 for one that is not an image.
"""

from __future__ import annotations

import base64
import os
import pathlib
from typing import Any, Sequence

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hub_core import config
from hub_core.errors import (AmbiguousNameError, DataError, HubError, ImageTooLargeError, InvalidArgumentError,
                             UnknownNameError)
from hub_core.serve import catalog_view, models
from hub_core.serve import runs as run_dirs
from hub_core.serve.models import ModelCache

HERE = pathlib.Path(__file__).parent
RUN_PREFIX = "runs/"  # how /api/predict names a run: runs/NAME
IMAGE_TASKS = ("image-classification", "style-transfer")
MULTIPART_SLACK = 64 << 10  # bytes a multipart body may hold beyond the image (boundaries, the model field)


def create_app(runs: Sequence[str | os.PathLike] = (), *, cache_size: int | None = None,
               engine: str = "auto") -> FastAPI:
    """The web app over the catalog and the run directories under ``runs``.

    Args:
        runs: Folders of run directories (``hub serve --runs DIR``); a run is named by its path under one.
        cache_size: How many models stay loaded (default ``HUB_CORE_SERVE_MODELS``).
        engine: The engine of ``hub.predict`` (default ``"auto"``: the fastest that agrees with Keras).

    Returns:
        A FastAPI app; serve it with uvicorn (``hub serve`` does).

    Example:
        >>> import uvicorn
        >>> uvicorn.run(create_app(runs=["runs"]), host="127.0.0.1", port=8000)
    """
    index = run_dirs.RunIndex(runs)
    cache = ModelCache(cache_size)
    app = FastAPI(title="hub_core", description="The model hub's catalog, runs and try-it inference.",
                  version=_version())
    app.state.cache, app.state.runs = cache, index
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["number"] = lambda value: f"{value:,}" if isinstance(value, int) else (value or "-")

    def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {"title": "hub_core", **context}, status_code=status_code)

    def predictor(model: str):
        """The cached predictor of a catalog model or ``runs/NAME``."""
        key = model
        if model.startswith(RUN_PREFIX):
            folder = index.path(model[len(RUN_PREFIX):])
            if folder is None:
                raise UnknownNameError(f"There is no run '{model[len(RUN_PREFIX):]}' under the --runs folders; "
                                       "see /api/runs for their names.")
            key = str(folder)
        else:
            catalog_view.catalog.resolve(model)  # an unknown or ambiguous name fails here, before any load
        try:
            return cache.get(key, lambda: models.open_predictor(key, engine))
        except Exception as error:  # a corrupt run, missing weights, a plugin that fails to build: say so, serve on
            reason = _sentence(error) if isinstance(error, HubError) else f"{type(error).__name__}: {_sentence(error)}"
            raise HubError(f"The model '{model}' could not be loaded ({reason[:400].rstrip('.')}); "
                           "check its files, its weights or its plugin.") from None

    async def upload_bytes(request: Request, image: UploadFile | None) -> bytes:
        limit = config.serve_max_upload_bytes()
        if int(request.headers.get("content-length") or 0) > limit + MULTIPART_SLACK:
            raise ImageTooLargeError(f"The upload is over the {limit}-byte limit; send a smaller image "
                                     f"(or raise {config.SERVE_MAX_UPLOAD_BYTES.name}).")
        if image is None:
            raise DataError("No image was sent; attach one in the 'image' field.")
        return models.read_upload(image.file, limit)

    def try_image(model: str, data: bytes, filename: str | None) -> dict[str, Any]:
        return models.predict_image(predictor(model), data, pathlib.Path(filename or "upload").name)

    # -- JSON API ---------------------------------------------------------------------------------------------
    @app.get("/api/models", tags=["api"], summary="Every model: name, plugin, task, parameters and weight sets")
    def api_models() -> list[dict[str, Any]]:
        return catalog_view.models()

    @app.get("/api/models/{name}", tags=["api"], summary="One model's catalog entry")
    def api_model(name: str) -> dict[str, Any]:
        return _json_or_raise(lambda: catalog_view.model(name))

    @app.get("/api/runs", tags=["api"], summary="The run directories under the --runs folders")
    def api_runs() -> list[dict[str, Any]]:
        return [_run_summary(index, name) for name in index.names()]

    @app.get("/api/runs/{run:path}", tags=["api"], summary="One run: config, metrics, class names, sweep")
    def api_run(run: str) -> dict[str, Any]:
        folder = index.path(run)
        if folder is None:
            raise HTTPException(404, f"There is no run '{run}' under the --runs folders.")
        return run_dirs.describe(run, folder)

    @app.post("/api/predict", tags=["api"], summary="Top-5 classes of an uploaded image",
              description="Multipart fields: `model` (a model name or `runs/NAME`) and `image` (a JPEG, PNG, ...). "
                          "An image-to-image model answers with its output image as base64 PNG.")
    async def api_predict(request: Request, model: str = Form(...), image: UploadFile | None = File(None)):
        try:
            data = await upload_bytes(request, image)
            result = await _in_thread(try_image, model, data, image.filename if image else None)
        except HubError as error:
            return JSONResponse({"detail": _sentence(error)}, status_code=_status(error))
        if result["kind"] == "image":
            result["png"] = base64.b64encode(result["png"]).decode("ascii")
        return {"model": model, **result}

    # -- pages ------------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def catalog_page(request: Request, q: str = "", task: str = "", pretrained: bool = False):
        rows = catalog_view.models()
        tasks = sorted({row["task"] for row in rows if row["task"]})
        shown = [row for row in rows if (q.lower() in row["name"].lower()) and (not task or row["task"] == task)
                 and (not pretrained or row["pretrained"])]
        return page(request, "catalog.html", rows=shown, total=len(rows), tasks=tasks, q=q, task=task,
                    pretrained=pretrained)

    @app.get("/models/{name}", response_class=HTMLResponse, include_in_schema=False)
    def model_page(request: Request, name: str):
        try:
            model = catalog_view.model(name)
        except HubError as error:
            return page(request, "error.html", _status(error), heading=f"Model {name}", message=_sentence(error))
        card = catalog_view.card(model["card"]) if model.get("card") else None
        return page(request, "model.html", model=model, card=card, samples=list(models.sample_photos()),
                    try_it=model["task"] in IMAGE_TASKS, title=f"{name} · hub_core")

    @app.post("/try", response_class=HTMLResponse, include_in_schema=False)
    async def try_page(request: Request, model: str = Form(...), sample: str = Form(""),
                       image: UploadFile | None = File(None)):
        """Try-it from a page: an uploaded image or a packaged sample photo, answered with a result page."""
        back = f"/{model}" if model.startswith(RUN_PREFIX) else f"/models/{model}"
        try:
            if image is not None and image.filename:
                data, filename = await upload_bytes(request, image), image.filename
            else:
                photo = models.sample_photos().get(sample)
                if photo is None:
                    raise DataError("Choose an image to upload or one of the sample photos.")
                data, filename = photo.read_bytes(), photo.name
            result = await _in_thread(try_image, model, data, filename)
        except HubError as error:
            return page(request, "error.html", _status(error), heading=f"Try {model}", message=_sentence(error),
                        back=back)
        if result["kind"] == "image":
            result["png"] = base64.b64encode(result["png"]).decode("ascii")
        return page(request, "result.html", model=model, result=result, filename=filename, back=back,
                    title=f"{model}: {filename} · hub_core")

    @app.post("/try-features", response_class=HTMLResponse, include_in_schema=False)
    async def try_features_page(request: Request):
        """Try-it of a tabular run: the form's feature values, answered with the probability."""
        form = await request.form()
        run = str(form.get("run", ""))
        values = {key[len("feature:"):]: str(value) for key, value in form.items() if key.startswith("feature:")}
        try:
            result = await _in_thread(lambda: models.predict_features(predictor(RUN_PREFIX + run), values))
        except HubError as error:
            return page(request, "error.html", _status(error), heading=f"Try run {run}", message=_sentence(error),
                        back=f"/runs/{run}")
        return page(request, "result.html", model=RUN_PREFIX + run, result=result, values=values,
                    back=f"/runs/{run}", filename=None)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(request: Request):
        return page(request, "runs.html", runs=[_run_summary(index, name) for name in index.names()],
                    roots=[str(root) for root in index.roots])

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request, a: str = "", b: str = ""):
        described = []
        for name in (a, b):
            folder = index.path(name)
            if folder is None:
                return page(request, "error.html", 404, heading="Compare runs",
                            message=f"There is no run '{name}' under the --runs folders; pick two from the list.",
                            back="/runs")
            described.append(run_dirs.describe(name, folder))
        metrics = sorted(set(described[0]["metrics"]) | set(described[1]["metrics"]))
        settings = sorted(set((described[0]["config"] or {}).get("arguments") or {})
                          | set((described[1]["config"] or {}).get("arguments") or {}))
        return page(request, "compare.html", runs=described, metrics=metrics, settings=settings)

    @app.get("/curves/{run:path}", include_in_schema=False)
    def curves(run: str):
        path = index.file(run, run_dirs.CURVES)
        if path is None:
            raise HTTPException(404, f"Run '{run}' has no curves image.")
        return FileResponse(path, media_type="image/png")

    @app.get("/runs/{run:path}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run: str):
        folder = index.path(run)
        if folder is None:
            return page(request, "error.html", 404, heading=f"Run {run}",
                        message=f"There is no run '{run}' under the --runs folders.", back="/runs")
        described = run_dirs.describe(run, folder)
        card = catalog_view.card(described["card"]) if described["card"] else None
        features, problem = {}, None
        if described["has_model"]:  # a model of named features (a table's) gets a form, others an image upload
            try:
                features = models.model_features(predictor(RUN_PREFIX + run).model)
            except HubError as error:
                problem = _sentence(error)
        return page(request, "run.html", run=described, card=card, features=features,
                    load_problem=problem, samples=list(models.sample_photos()),
                    heatmap=run_dirs.heatmap(described["confusion_matrix"]) if described["confusion_matrix"] else None,
                    title=f"run {run} · hub_core")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        return page(request, "error.html", error.status_code, heading="Not found" if error.status_code == 404
                    else "Error", message=str(error.detail), back="/")

    return app


def _json_or_raise(make):
    try:
        return make()
    except HubError as error:
        raise HTTPException(_status(error), _sentence(error)) from None


def _run_summary(index, name: str) -> dict[str, Any]:
    described = run_dirs.describe(name, index.path(name))
    return {"name": name, "model": described["model"], "metrics": described["metrics"],
            "sweep": described["sweep"] is not None, "problems": described["problems"],
            "has_model": described["has_model"]}


async def _in_thread(function, *args):
    """Run ``function`` in the framework's thread pool (prediction blocks)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


def _status(error: HubError) -> int:
    if isinstance(error, UnknownNameError):
        return 404
    if isinstance(error, ImageTooLargeError):
        return 413
    if isinstance(error, (DataError, InvalidArgumentError, AmbiguousNameError)):
        return 400
    return 500


def _sentence(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _version() -> str:
    from hub_core import __version__

    return __version__
