"""Model cards: ``hub card RUN_DIR`` writes ``RUN_DIR/README.md`` in the Hugging Face model-card layout.

A card is YAML front matter (model name, base model and weights, license, datasets, metrics with their
values in a ``model-index``, tags) followed by Markdown (how to load it, the training configuration, the
class names, the evaluation with the confusion matrix as an image beside the card, the training curves,
the intended use and limitations). Every number comes from the run directory's own files
(``run.json``, ``metrics.json``, ``class_names.json``, ``preprocessing.json``, ``skipped_files.json`` and,
after ``hub card --data DIR``, ``evaluation.json``); a field the run does not record is left out.

Example:
    >>> import hub_core as hub
    >>> path = hub.card("runs/digits", data="digits/test")   # evaluates, then writes runs/digits/README.md
    >>> front, body = read_card(path.read_text())
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from hub_core.errors import DataError, HubError
from hub_core.files import atomic_path
from hub_core.saving import (BEST_MODEL, CARD, CLASS_NAMES, CURVES, EVALUATION, FINAL_MODEL, METRICS, PREPROCESSING,
                             RUN_CONFIG, SKIPPED, read_json)

CONFUSION_IMAGE = "confusion_matrix.png"
LABELLED_TICKS = 50  # class names written along each axis of the confusion matrix, at most
FENCE = "---"
LIBRARY = "keras"


def read_card(text: str) -> tuple[dict[str, Any], str]:
    """Split a model card into its YAML front matter and its Markdown body.

    Args:
        text: The card: ``---``, YAML, ``---``, then Markdown. Text without front matter is all body.

    Returns:
        ``(front_matter, body)``; the front matter is ``{}`` when there is none.

    Raises:
        DataError: When the front matter is not valid YAML or not a mapping.
    """
    import yaml

    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() == FENCE:
            break
    else:
        raise DataError("The model card's front matter has no closing '---' line; end the YAML block with '---'.")
    try:
        front = yaml.safe_load("".join(lines[1:end])) or {}
    except yaml.YAMLError as error:
        raise DataError(f"The model card's front matter is not valid YAML ({' '.join(str(error).split())}); fix it.") from None
    if not isinstance(front, dict):
        raise DataError("The model card's front matter is not a YAML mapping of field names to values; fix it.")
    return front, "".join(lines[end + 1:])


def summary(text: str) -> dict[str, Any]:
    """The fields ``hub info`` shows from a card: model name, base model and weights, metrics, datasets.

    Returns:
        ``{"model", "base_model", "base_model_weights", "license", "datasets", "metrics"}`` with the fields the
        card has; ``metrics`` maps each metric's name to its value.
    """
    front, _ = read_card(text)
    found: dict[str, Any] = {key: front[key] for key in ("base_model", "base_model_weights", "license", "datasets")
                             if key in front}
    if "model_name" in front:
        found = {"model": front["model_name"], **found}
    metrics = {metric.get("name", metric.get("type")): metric.get("value")
               for result in (front.get("model-index") or [{}])[0].get("results", ())
               for metric in result.get("metrics", ())}
    if metrics:
        found["metrics"] = metrics
    return found


def summary_lines(text: str) -> list[str]:
    """:func:`summary` as ``"field: value"`` lines (metrics ``name value``, comma-separated), as ``hub info`` prints it."""
    lines = []
    for key, value in summary(text).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        lines.append(f"{key}: {value}")
    return lines


def evaluate_run(run_dir: str | os.PathLike, data: str | os.PathLike, *, batch_size: int = 32,
                 top_k: int = 5) -> dict[str, Any]:
    """Evaluate a run's model on a labelled image folder and record the result as ``RUN_DIR/evaluation.json``.

    Args:
        run_dir: The run directory.
        data: An image folder with one sub-folder per class (the run's class names).
        batch_size: Batch size.
        top_k: k of the top-k accuracy.

    Returns:
        What :func:`hub_core.training.evaluate` returns, plus ``data`` (the folder, as given) and
        ``data_description`` when the folder describes itself (:func:`hub_core.data.folder_description`).
    """
    from hub_core import data as hub_data
    from hub_core.saving import open_saved
    from hub_core.training import evaluate
    from hub_core.training.runs import write_json

    model = open_saved(run_dir)
    dataset = hub_data.image_folder(data, model=model, batch_size=batch_size, shuffle=False,
                                    class_names=model.class_names or None)
    result = {"data": os.fspath(data), **evaluate(model, dataset, top_k=top_k)}
    described = hub_data.folder_description(data)
    if described:
        result["data_description"] = described
    write_json(pathlib.Path(run_dir) / EVALUATION, result)
    return result


def write_card(run_dir: str | os.PathLike, *, data: str | os.PathLike | None = None, name: str | None = None,
               license: str | None = None, description: str | None = None, top_k: int = 5) -> pathlib.Path:
    """Write ``RUN_DIR/README.md``, and the confusion matrix image beside it when the run has an evaluation.

    Args:
        run_dir: A run directory written by ``hub.fine_tune`` or ``hub.train``.
        data: When given, an image folder to evaluate the run on first (see :func:`evaluate_run`).
        name: The model name (default: the run directory's name).
        license: The license (default: the base weights' license).
        description: A sentence about the model, put at the top of the body.
        top_k: k of the top-k accuracy when ``data`` is evaluated.

    Returns:
        The card's path.

    Raises:
        DataError: When ``run_dir`` is not a run directory or one of its files is damaged.
    """
    run = pathlib.Path(run_dir)
    if data is not None:
        evaluate_run(run, data, top_k=top_k)
    evaluation = read_json(run / EVALUATION)
    if evaluation and evaluation.get("confusion_matrix"):
        _plot_confusion(evaluation["confusion_matrix"], evaluation.get("class_names") or [], run / CONFUSION_IMAGE)
    text = card_text(run, name=name, license=license, description=description)
    with atomic_path(run / CARD) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return run / CARD


def card_text(run_dir: str | os.PathLike, *, name: str | None = None, license: str | None = None,
              description: str | None = None) -> str:
    """The model card of a run directory (see :func:`write_card`), from its files only.

    Raises:
        DataError: When ``run_dir`` holds no run (``run.json`` and a model) or one of its files is damaged.
    """
    import yaml

    run = Run(pathlib.Path(run_dir))
    name = name or run.path.name
    front: dict[str, Any] = {"model_name": name, "base_model": run.base}
    if run.base_weights:
        front["base_model_weights"] = run.base_weights
    license = license or run.base_license
    if license:
        front["license"] = license.lower()  # the Hub's license ids are lower-case SPDX ids
    front["library_name"] = LIBRARY
    if run.task:
        front["pipeline_tag"] = run.task
    front["tags"] = [tag for tag in ("hub-core", LIBRARY, run.task, run.base) if tag]
    if run.evaluation.get("data"):
        front["datasets"] = [run.data_name]
    results = run.results()
    if results:
        front["metrics"] = sorted({metric["type"] for result in results for metric in result["metrics"]})
        front["model-index"] = [{"name": name, "results": results}]
    yaml_text = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"{FENCE}\n{yaml_text}{FENCE}\n\n{run.body(name, description)}"


class Run:
    """The files of one run directory that a card reads (missing optional files read as empty)."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.config = read_json(path / RUN_CONFIG)
        if not isinstance(self.config, dict) or not any((path / f).exists() for f in (BEST_MODEL, FINAL_MODEL)):
            raise DataError(f"{path} is not a finished run directory (it needs {RUN_CONFIG} and {FINAL_MODEL} or "
                            f"{BEST_MODEL}); pass a run directory written by hub.fine_tune or hub.train.")
        self.class_names = list(read_json(path / CLASS_NAMES, []) or [])
        self.metrics = read_json(path / METRICS, {}) or {}
        self.preprocessing = read_json(path / PREPROCESSING, {}) or {}
        self.skipped = read_json(path / SKIPPED, {}) or {}
        self.evaluation = read_json(path / EVALUATION, {}) or {}
        self.arguments = self.config.get("arguments") or {}
        self.base = self.config.get("model")
        self.base_weights, self.base_license, self.task, self.base_paper = self._base_catalog()

    @property
    def data_name(self) -> str:
        """The evaluation folder's name (a local path says nothing to a reader elsewhere)."""
        return pathlib.PurePath(self.evaluation["data"]).name

    def _base_catalog(self) -> tuple[str | None, str | None, str | None, dict[str, Any] | None]:
        """``(weights, their license, task, paper)`` of the base model, from the catalog; None where unknown."""
        from hub_core.hub import catalog

        plugin = self.config.get("plugin")
        try:
            entry = catalog.entry(plugin)
        except HubError:
            return None, None, None, None
        variant = entry["variants"].get(self.base) or {}
        weights = self.arguments.get("weights")
        if weights == "default":
            weights = variant.get("default_weights")
        weight_set = (variant.get("weights") or {}).get(weights) if isinstance(weights, str) else None
        # weights from a path or URL are the user's own: their name is not a catalog set, their license unknown
        return (weights if weight_set else None), (weight_set or {}).get("license"), entry.get("task"), entry.get("paper")

    def results(self) -> list[dict[str, Any]]:
        """The ``model-index`` results: the final epoch's metrics (validation and train), then the evaluation."""
        final = self.metrics.get("final") or {}
        results = []
        for split, keys in (("validation", [k for k in final if k.startswith("val_")]),
                            ("train", [k for k in final if not k.startswith("val_") and k != "learning_rate"])):
            if keys:
                results.append({"task": self._task(), "dataset": {"name": f"{split} data of the run", "type": "imagefolder",
                                                          "split": split},
                                "metrics": [{"type": _metric_type(k), "value": final[k], "name": k} for k in sorted(keys)]})
        evaluated = [k for k in ("accuracy", "top_k_accuracy", "loss") if k in self.evaluation]
        if evaluated:
            results.append({"task": self._task(), "dataset": {"name": self.data_name, "type": "imagefolder", "split": "test"},
                            "metrics": [{"type": _metric_type(k, self.evaluation.get("k")), "value": self.evaluation[k],
                                         "name": f"{self.data_name} {k}"} for k in evaluated]})
        return [{k: v for k, v in result.items() if v} for result in results]

    def _task(self) -> dict[str, str]:
        """A result's ``task`` (a new dict each time: YAML would write shared ones as anchors)."""
        return {"type": self.task} if self.task else {}

    def body(self, name: str, description: str | None) -> str:
        """The Markdown after the front matter."""
        lines = [f"# {name}", ""]
        if description:
            lines += [description, ""]
        made = f"with hub-core {self.config['hub_core']}" if self.config.get("hub_core") else "with hub-core"
        source = f"`{self.base}`" + (f" (weights `{self.base_weights}`)" if self.base_weights else "")
        lines += [f"Trained from {source} {made}" + (f" for {self.task}." if self.task else "."), ""]
        if self.base_paper:
            lines += [f"The architecture's paper: [{self.base_paper['title']}]({self.base_paper['url']}).", ""]
        lines += ["## How to load", "", "```python", "import hub_core as hub", "",
                  f'model = hub.load("{name}")', f'results = hub.predict("{name}", ["image.png"])', "```", "",
                  "```", f"hub predict {name} image.png", "```", "",
                  f"Published with `hub publish`, it installs with `pip install hub-{name}`; the run directory itself "
                  "loads with `hub.load(RUN_DIR)`.", ""]
        lines += self._training_data() + self._training()
        if self.class_names:
            lines += ["## Classes", "", f"{len(self.class_names)} classes, in label order: "
                      + ", ".join(f"`{c}`" for c in self.class_names) + ".", ""]
        lines += self._evaluation()
        if (self.path / CURVES).is_file():
            lines += ["## Training curves", "", f"![training curves]({CURVES})", ""]
        lines += self._limitations()
        return "\n".join(lines)

    def _training_data(self) -> list[str]:
        """What the run trained and validated on, from the ``data`` that ``run.json`` records."""
        from hub_core.data import folder_description

        recorded = self.config.get("data") or {}
        lines = []
        for part, verb in (("train", "Trained"), ("validation", "Validated")):
            record = recorded.get(part)
            if not isinstance(record, dict) or "examples" not in record:
                continue
            folder = record.get("folder") if isinstance(record.get("folder"), str) else None  # run.json is data
            where = f"the image folder `{pathlib.PurePath(folder).name}`" if folder else "data passed in as arrays or a dataset"
            if record.get("part"):
                where += (f", the {record['part']} part of a {record.get('validation_split')} validation split "
                          f"(seed {record.get('split_seed')})")
            lines += [f"{verb} on {record['examples']} examples from {where}."]
            described = folder_description(folder) if folder and part == "train" else None
            if described:
                lines += ["", f"The training data, as its folder describes itself: {described}"]
        return ["## Training data", ""] + lines + [""] if lines else []

    def _training(self) -> list[str]:
        shown = {k: v for k, v in sorted(self.arguments.items())
                 if v is not None and k not in ("run_dir", "verbose", "model")}
        lines = ["## Training configuration", ""]
        history = self.metrics.get("history") or {}
        epochs = max((len(v) for v in history.values()), default=0)
        if epochs:
            lines += [f"Epochs run: {epochs}."]
        best = self.metrics.get("best")
        if best:
            lines += [f"Best model: epoch {best['epoch']}, {best['monitor']} = {best['value']}."]
        lines += ["", "| option | value |", "| --- | --- |"] + [f"| {k} | `{v}` |" for k, v in shown.items()] + [""]
        return lines

    def _evaluation(self) -> list[str]:
        final = self.metrics.get("final") or {}
        if not final and not self.evaluation:
            return []
        lines = ["## Evaluation", ""]
        if final:
            lines += ["Final epoch (from `metrics.json`):", "", "| metric | value |", "| --- | --- |"]
            lines += [f"| {k} | {final[k]} |" for k in sorted(final)] + [""]
        if self.evaluation:
            k = self.evaluation.get("k")
            lines += [f"On `{self.data_name}` ({self.evaluation.get('num_examples')} images, from `{EVALUATION}`):", ""]
            if self.evaluation.get("data_description"):
                lines += [f"The evaluation data, as its folder describes itself: {self.evaluation['data_description']}", ""]
            lines += ["| metric | value |", "| --- | --- |"]
            lines += [f"| {key if key != 'top_k_accuracy' else f'top-{k} accuracy'} | {self.evaluation[key]} |"
                      for key in ("accuracy", "top_k_accuracy", "loss") if key in self.evaluation] + [""]
        if (self.path / CONFUSION_IMAGE).is_file() and self.evaluation.get("confusion_matrix"):
            lines += [f"![confusion matrix]({CONFUSION_IMAGE})", "", "Rows: true class; columns: predicted class.", ""]
        return lines

    def _limitations(self) -> list[str]:
        lines = ["## Intended use and limitations", ""]
        shape = self.preprocessing.get("input_shape")
        what = "inputs"
        if shape and len(shape) == 3:
            what = f"{shape[0]}x{shape[1]} {({1: 'grayscale', 3: 'RGB'}).get(shape[2], f'{shape[2]}-channel')} images"
        if self.class_names:
            lines += [f"It sorts {what} into the {len(self.class_names)} classes above and nothing else: an image of "
                      "anything else still gets one of them.", ""]
        if self.evaluation.get("num_examples"):
            lines += [f"Its evaluation covered {self.evaluation['num_examples']} images of `{self.data_name}`; "
                      "images unlike those (other cameras, lighting, sizes or subjects) were not measured.", ""]
            if self.evaluation.get("data_description"):
                lines += [f"Those images are, as their folder says: {self.evaluation['data_description']}", ""]
        else:
            lines += ["It was not evaluated on held-out data beyond the run's own validation metrics above.", ""]
        if self.skipped.get("count"):
            lines += [f"{self.skipped['count']} training files were skipped as unreadable.", ""]
        return lines


def _metric_type(key: str, k: int | None = None) -> str:
    """The model-index metric type of a Keras/hub metric name (``val_top5_accuracy`` -> ``top_5_accuracy``)."""
    key = key.removeprefix("val_")
    if key == "top_k_accuracy":
        return f"top_{k}_accuracy" if k else key
    if key.startswith("top") and key.endswith("_accuracy") and key[3:-9].isdigit():
        return f"top_{key[3:-9]}_accuracy"
    return key


def _plot_confusion(matrix: list[list[int]], names: list[str], path: pathlib.Path) -> None:
    """Draw the confusion matrix (rows: true class) with its counts to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix)
    labels = names if len(names) == len(counts) else [str(i) for i in range(len(counts))]
    size = min(max(3.0, 0.5 * len(counts) + 1.5), 16.0)
    with matplotlib.rc_context(_label_fonts(labels)):
        figure, axis = plt.subplots(figsize=(size, size))
        _draw_confusion(figure, axis, counts, labels, path)
    plt.close(figure)


def _label_fonts(labels: list[str]) -> dict[str, Any]:
    """Matplotlib settings that draw CJK class names (``00000_一``) in an installed CJK font, falling back per glyph."""
    if all(label.isascii() for label in labels):
        return {}
    from matplotlib import font_manager

    from hub_core.data.fonts import cjk_fonts

    try:
        # matplotlib reads a collection's first face; a regular weight matches its default font properties
        font = min(cjk_fonts(), key=lambda f: (f.index != 0, f.style.lower() not in ("regular", "medium", "book")))
        font_manager.fontManager.addfont(font.path)
        family = font_manager.FontProperties(fname=font.path).get_name()
    except (HubError, OSError, RuntimeError):  # no CJK font: matplotlib draws boxes and says so
        return {}
    return {"font.family": ["DejaVu Sans", family]}


def _draw_confusion(figure, axis, counts, labels: list[str], path: pathlib.Path) -> None:
    import numpy as np

    axis.imshow(counts, cmap="Blues")
    ticks = range(0, len(labels), -(-len(labels) // LABELLED_TICKS))  # every class up to 50, else every n-th
    shown = [labels[i] for i in ticks]
    axis.set_xticks(ticks, shown, rotation=90 if max(map(len, shown), default=0) > 3 else 0)
    axis.set_yticks(ticks, shown)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    if len(counts) <= 30:
        for (row, column), count in np.ndenumerate(counts):
            axis.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > counts.max() / 2 else "black", fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
