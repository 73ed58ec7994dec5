"""``hub predict``: classify images with a catalog model or a run directory."""

from __future__ import annotations

import pathlib
from typing import Any

from hub_core.cli.main import print_json, print_table

DEFAULT_SIZE = 224


def register(subparsers) -> None:
    """Add the ``predict`` subcommand."""
    p = subparsers.add_parser(
        "predict",
        help="classify images",
        description="Classify images with a catalog model name, a run directory or a .keras file.",
    )
    p.add_argument("model", metavar="NAME_OR_RUN_DIR")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--weights", default=None, help="weight set, path or URL (catalog models only)")
    p.set_defaults(func=predict_command)


def predict_command(args) -> int:
    """Load the model, classify each image and print the top classes."""
    from hub_core.errors import InvalidArgumentError

    if args.top < 1:
        raise InvalidArgumentError(f"--top must be at least 1, got {args.top}.")
    results = predict_files(args.model, args.images, top=args.top, weights=args.weights)
    if args.json:
        print_json(results)
    else:
        for result in results:
            print(result["image"])
            print_table([(r["rank"], r["label"], f"{r['score']:.4f}") for r in result["top"]], ("RANK", "CLASS", "SCORE"))
    return 0


def predict_files(model_name: str, images: list[str], *, top: int = 5, weights: str | None = None) -> list[dict[str, Any]]:
    """Top classes of each image file, as plain data.

    Images are loaded with :func:`hub_core.vision.imaging.load_image` (center crop to
    the model's input size) and preprocessed with the plugin's preprocessing,
    unless the model has the preprocessing inside it. Saved models get raw
    0..255 values unless their run directory's ``preprocessing.json`` names a
    ``mode`` of :data:`hub_core.vision.MODES`.

    Args:
        model_name: A catalog model, a run directory or a ``.keras`` file.
        images: Image paths.
        top: Classes per image.
        weights: Weight set, path or URL for catalog models (default weights when None).

    Returns:
        ``[{"image", "top": [{"rank", "index", "label", "wnid", "score"}]}]``.

    Raises:
        DataError: When an image cannot be read.
        InvalidArgumentError: When ``--weights`` is given for a saved model.
    """
    import numpy as np

    import hub_core as hub
    from hub_core import vision
    from hub_core.vision import imaging
    from hub_core.hub import catalog, registry
    from hub_core.errors import DataError, InvalidArgumentError

    saved = pathlib.Path(model_name).is_dir() or model_name.endswith(".keras")
    for image in images:  # fail on a bad image before the (slow) model load
        if not pathlib.Path(image).is_file():
            raise DataError(f"Image file {image} does not exist; check the path.")
    if saved:
        if weights is not None:
            raise InvalidArgumentError("--weights applies to catalog models, not to a saved model or run directory.")
        model = hub.load(model_name)
        mode = _saved_mode(pathlib.Path(model_name))
        preprocess = None if mode is None or _has_preprocessing(model) else (
            lambda batch: vision.preprocess_input(batch, mode))
    else:
        model = hub.load(model_name, **({} if weights is None else {"weights": weights}))
        plugin_name, variant_name = catalog.resolve(model_name)
        plugin = registry.get_plugin(plugin_name)
        variant = plugin.variant(variant_name)
        preprocess = None if _has_preprocessing(model) else (lambda batch: plugin.preprocess(batch, variant))
    height, width, channels = _input_size(model)
    batch = imaging.load_images(images, (height, width), crop="center", channels=1 if channels == 1 else 3)
    batch = batch.astype("float32")
    if preprocess is not None:
        batch = preprocess(batch)
    scores = np.asarray(model.predict_on_batch(batch), dtype="float32")
    if scores.ndim != 2:
        raise InvalidArgumentError(
            f"Model '{model_name}' outputs shape {scores.shape}, not class scores; predict needs a classifier (include_top=True)."
        )
    names = list(getattr(model, "class_names", ()) or ())
    return [
        {"image": str(image), "top": _top(row, top, names)}
        for image, row in zip(images, scores)
    ]


def _saved_mode(path: pathlib.Path) -> str | None:
    """The preprocessing mode a run directory records in preprocessing.json, if any."""
    from hub_core import vision
    from hub_core.training import runs

    if not path.is_dir():
        return None
    mode = (runs.read_json(path / runs.PREPROCESSING, {}) or {}).get("mode")
    return mode if mode in vision.MODES else None


def _has_preprocessing(model) -> bool:
    return any(type(layer).__name__ == "ImagePreprocessing" for layer in model.layers)


def _input_size(model) -> tuple[int, int, int]:
    shape = tuple(model.inputs[0].shape[1:])
    height, width, channels = (tuple(shape) + (None, None, None))[:3]
    return height or DEFAULT_SIZE, width or DEFAULT_SIZE, channels or 3


def _top(row, top: int, names: list[str]) -> list[dict[str, Any]]:
    from hub_core import vision

    imagenet = vision.imagenet_class_index() if not names and len(row) == 1000 else {}
    best = row.argsort()[::-1][:top]
    results = []
    for rank, index in enumerate(best, start=1):
        index = int(index)
        wnid, label = imagenet.get(index, ("", names[index] if index < len(names) else str(index)))
        results.append({"rank": rank, "index": index, "label": label, "wnid": wnid, "score": float(row[index])})
    return results
