"""Run directories under ``hub serve --runs`` folders, read as data.

A run is named by its path under one of the folders (``flowers`` or ``sweep1/trial_0``). A name is resolved
only through plain path parts (letters, digits, ``._-``, never ``.`` or ``..``) and must stay inside its folder
once symbolic links are resolved: anything else is "no such run". Every file is read within a byte budget, and a
file that does not parse is reported on the run's page, never raised.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any, Sequence

from hub_core.saving import BEST_INFO, CARD, CLASS_NAMES, CURVES, EVALUATION, FINAL_MODEL, METRICS, PREPROCESSING, RUN_CONFIG
from hub_core.training.sweep_results import SUMMARY as SWEEP  # {"trials": [{"number", "state", "params", ...}], "best"}

MARKERS = (RUN_CONFIG, METRICS, FINAL_MODEL, SWEEP)
JSON_BUDGET = 4 << 20  # bytes: run metadata is small; a larger file is refused, not read
CARD_BUDGET = 256 << 10
IMAGE_BUDGET = 16 << 20
PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
MAX_DEPTH = 3  # run folders are listed this deep (a sweep's trials sit one level down)


class RunIndex:
    """The runs under some folders.

    Args:
        roots: The ``--runs`` folders, searched in order for a name.
    """

    def __init__(self, roots: Sequence[str | os.PathLike] = ()):
        self.roots = [pathlib.Path(root).resolve() for root in roots]

    def names(self) -> list[str]:
        """Every run's name, sorted (a name found in two folders is the first folder's)."""
        found: dict[str, pathlib.Path] = {}
        for root in self.roots:
            for folder in _walk(root, MAX_DEPTH):
                if folder != root and any((folder / marker).exists() for marker in MARKERS):
                    found.setdefault(folder.relative_to(root).as_posix(), folder)
        return sorted(found)

    def path(self, name: str) -> pathlib.Path | None:
        """The run directory named ``name``, or None when no folder holds it (or the name leaves its folder)."""
        parts = str(name).split("/")
        if not name or not all(PART.fullmatch(part) and part not in (".", "..") for part in parts):
            return None
        for root in self.roots:
            candidate = (root / pathlib.Path(*parts)).resolve()
            if candidate.is_relative_to(root) and candidate.is_dir() and any(
                    (candidate / marker).exists() for marker in MARKERS):
                return candidate
        return None

    def file(self, name: str, file_name: str) -> pathlib.Path | None:
        """One plain file of a run (its curves image, say), or None."""
        folder = self.path(name)
        if folder is None or not PART.fullmatch(file_name):
            return None
        path = (folder / file_name).resolve()
        return path if path.is_relative_to(folder) and path.is_file() else None


def _walk(root: pathlib.Path, depth: int):
    """``root`` and its sub-folders down to ``depth`` levels, hidden ones and links out of ``root`` skipped."""
    yield root
    if depth == 0 or not root.is_dir():
        return
    try:
        children = sorted(root.iterdir())
    except OSError:
        return
    for child in children:
        if child.is_dir() and PART.fullmatch(child.name) and child.resolve().is_relative_to(root):
            yield from _walk(child, depth - 1)


def read_json(path: pathlib.Path, budget: int = JSON_BUDGET) -> Any:
    """A JSON file within ``budget`` bytes.

    Raises:
        ValueError: When the file is over the budget or is not valid JSON (the message says which).
    """
    size = path.stat().st_size
    if size > budget:
        raise ValueError(f"{path.name} is {size} bytes, over the {budget}-byte budget for run metadata")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path.name} is not valid JSON ({error})") from None


def describe(name: str, folder: pathlib.Path) -> dict[str, Any]:
    """What a run's page shows, as data; ``problems`` lists the files that could not be read.

    Returns:
        ``name``, ``config`` (run.json), ``model`` (its catalog model name), ``metrics`` (final), ``best``,
        ``history``, ``class_names``, ``preprocessing``, ``curves`` (whether curves.png exists),
        ``confusion_matrix``, ``card`` (README.md's text), ``sweep`` (sweep.json), ``has_model`` and ``problems``.
    """
    run: dict[str, Any] = {"name": name, "problems": [], "config": None, "model": None, "metrics": {}, "best": None,
                           "history": {}, "class_names": [], "preprocessing": None, "confusion_matrix": None,
                           "card": None, "sweep": None}

    def load(file_name: str):
        path = folder / file_name
        if not path.is_file():
            return None
        try:
            return read_json(path)
        except (OSError, ValueError) as error:
            run["problems"].append(str(error))
            return None

    run["config"] = load(RUN_CONFIG)
    if isinstance(run["config"], dict):
        run["model"] = run["config"].get("model")
    metrics = load(METRICS)
    if isinstance(metrics, dict):
        run["metrics"] = metrics.get("final") or {}
        run["best"] = metrics.get("best") or load(BEST_INFO)
        run["history"] = metrics.get("history") or {}
    elif metrics is not None:
        run["problems"].append(f"{METRICS} is not an object of final, best and history")
    names = load(CLASS_NAMES)
    run["class_names"] = [str(n) for n in names] if isinstance(names, list) else []
    run["preprocessing"] = load(PREPROCESSING)
    evaluation = load(EVALUATION)
    for source in (evaluation, metrics, run["metrics"]):
        if isinstance(source, dict) and _is_matrix(source.get("confusion_matrix")):
            run["confusion_matrix"] = source["confusion_matrix"]
            run["class_names"] = run["class_names"] or [str(n) for n in source.get("class_names") or ()]
            break
    sweep = load(SWEEP)
    if sweep is not None:
        if isinstance(sweep, dict) and isinstance(sweep.get("trials"), list):
            run["sweep"] = sweep
        else:
            run["problems"].append(f"{SWEEP} has no list of trials")
    card = folder / CARD
    if card.is_file():
        if card.stat().st_size > CARD_BUDGET:
            run["problems"].append(f"{CARD} is over the {CARD_BUDGET}-byte budget of a card")
        else:
            run["card"] = card.read_text(encoding="utf-8", errors="replace")
    curves = folder / CURVES
    run["curves"] = curves.is_file() and curves.stat().st_size <= IMAGE_BUDGET
    run["has_model"] = (folder / FINAL_MODEL).is_file()
    return run


def _is_matrix(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and all(isinstance(row, list) and len(row) == len(value)
                                                         for row in value)
            and all(isinstance(cell, (int, float)) for row in value for cell in row))


def heatmap(matrix: list[list[float]]) -> list[list[dict[str, Any]]]:
    """Cells of a confusion matrix with their share of the row (0..1), for the page's colours."""
    cells = []
    for row in matrix:
        total = sum(row) or 1
        cells.append([{"count": cell, "share": cell / total} for cell in row])
    return cells
