"""Model cards (``hub card``): front matter as YAML, numbers from the run's files, linked images, unknown fields left out."""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import pytest
import yaml

from hub_core.cli.main import main
from hub_core.errors import DataError
from hub_core.publish import card


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory):
    """A copy of the session's tiny run (the card tests write into it)."""
    run_dir, test_dir = tiny_run
    copy = tmp_path_factory.mktemp("card") / "run"
    shutil.copytree(run_dir, copy)
    return copy, test_dir


@pytest.fixture(scope="module")
def evaluated(run):
    """The run's card written by the CLI with ``--data``: evaluation.json and the confusion matrix beside it."""
    run_dir, test_dir = run
    assert main(["card", str(run_dir), "--data", str(test_dir), "--description", "Digits, for a test."]) == 0
    return run_dir


def split_front_matter(text):
    """The card's YAML block and body, split by hand (independent of card.read_card)."""
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def metrics_by_name(front):
    return {m["name"]: m["value"] for result in front["model-index"][0]["results"] for m in result["metrics"]}


def front_metric(front, name):
    return metrics_by_name(front)[name]


def test_front_matter_is_yaml_with_the_run_metrics(evaluated):
    front, body = split_front_matter((evaluated / "README.md").read_text(encoding="utf-8"))
    final = json.loads((evaluated / "metrics.json").read_text())["final"]
    evaluation = json.loads((evaluated / "evaluation.json").read_text())
    metrics = metrics_by_name(front)
    assert {name: metrics[name] for name in final} == final
    assert metrics["test accuracy"] == evaluation["accuracy"]
    assert metrics["test top_k_accuracy"] == evaluation["top_k_accuracy"]
    assert front["model_name"] == evaluated.name and front["base_model"] == "tiny_convnet"
    assert front["datasets"] == ["test"] and front["pipeline_tag"] == "image-classification"
    # tiny_convnet was trained from random weights: no base weights, so no license, and neither is invented
    assert "base_model_weights" not in front and "license" not in front
    assert body.startswith(f"\n# {evaluated.name}\n\nDigits, for a test.")
    names = json.loads((evaluated / "class_names.json").read_text())
    assert ", ".join(f"`{c}`" for c in names) in body
    assert f"{evaluation['num_examples']} images" in body


def test_run_json_records_the_data_and_the_card_says_what_it_trained_on(evaluated):
    from hub_core import data

    recorded = json.loads((evaluated / "run.json").read_text())["data"]
    train_dir = pathlib.Path(recorded["train"]["folder"])
    train, val = data.image_folder(train_dir, model="tiny_convnet", validation_split=0.2, seed=0)  # as tiny_run
    for part, dataset, name in (("train", train, "training"), ("validation", val, "validation")):
        assert recorded[part] == {"examples": dataset.hub_pipeline.size, "fingerprint": dataset.hub_pipeline.fingerprint,
                                  "folder": str(train_dir), "part": name, "validation_split": 0.2, "split_seed": 0}
    _, body = split_front_matter((evaluated / "README.md").read_text(encoding="utf-8"))
    section = body.split("## Training data\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section == [
        f"Trained on {recorded['train']['examples']} examples from the image folder `{train_dir.name}`, "
        "the training part of a 0.2 validation split (seed 0).",
        f"Validated on {recorded['validation']['examples']} examples from the image folder `{train_dir.name}`, "
        "the validation part of a 0.2 validation split (seed 0)."]


def test_linked_images_exist_and_the_matrix_counts_the_evaluation(evaluated):
    from PIL import Image

    body = (evaluated / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
    assert sorted(links) == ["confusion_matrix.png", "curves.png"]
    for link in links:
        with Image.open(evaluated / link) as image:
            assert image.format == "PNG" and min(image.size) > 100
    evaluation = json.loads((evaluated / "evaluation.json").read_text())
    assert sum(map(sum, evaluation["confusion_matrix"])) == evaluation["num_examples"]


def test_read_card_and_summary(evaluated):
    text = (evaluated / "README.md").read_text(encoding="utf-8")
    front, body = card.read_card(text)
    assert (front, body) == split_front_matter(text)
    summary = card.summary(text)
    assert summary["model"] == evaluated.name and summary["datasets"] == ["test"]
    assert summary["metrics"] == metrics_by_name(front)
    lines = card.summary_lines(text)
    assert lines[:3] == [f"model: {evaluated.name}", "base_model: tiny_convnet", "datasets: test"]
    assert lines[3].startswith("metrics: ") and f"val_loss {front_metric(front, 'val_loss'):.4g}" in lines[3]
    assert card.read_card("# no front matter\n") == ({}, "# no front matter\n")
    with pytest.raises(DataError, match="not valid YAML"):
        card.read_card("---\nkey: [unclosed\n---\nbody\n")
    with pytest.raises(DataError, match="no closing"):
        card.read_card("---\nkey: 1\n")


def test_base_weights_and_license_come_from_the_catalog(run, tmp_path):
    run_dir, _ = run
    copy = tmp_path / "vgg_run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("evaluation.json", "README.md", "*.png"))
    config = json.loads((copy / "run.json").read_text())
    config.update(model="vgg16", plugin="vgg16")
    config["arguments"]["weights"] = "hed_bsds500"
    (copy / "run.json").write_text(json.dumps(config))
    front, body = split_front_matter(card.card_text(copy))
    assert front["base_model_weights"] == "hed_bsds500"
    assert front["license"] == "mit"  # hed_bsds500's license in the catalog
    assert "datasets" not in front and "![" not in body  # no evaluation, no curves: nothing linked
    assert split_front_matter(card.card_text(copy, license="CC-BY-4.0"))[0]["license"] == "cc-by-4.0"


def test_a_folder_without_a_run_is_refused(tmp_path, capsys):
    assert main(["card", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a finished run directory" in err
