"""``hub.embed``: penultimate-layer embeddings of an image folder for TensorBoard's projector.

What it writes in LOGDIR (``tensorboard --logdir LOGDIR``, then the Projector tab)::

    LOGDIR/
      embedding.ckpt-1.*   the embeddings, one row per image (a TensorFlow checkpoint, variable ``embedding``)
      checkpoint           the checkpoint index TensorBoard reads
      metadata.tsv         a header, then each image's label and file (relative to the data folder)
      sprite.png           the images as thumbnails in a square grid, in row order
      projector_config.pbtxt

Everything is written in a temporary folder first and moved into LOGDIR at the end, so an interrupted
call leaves no half-written embedding behind.
"""

from __future__ import annotations

import math
import os
import pathlib
import shutil
import tempfile
from typing import Any

from hub_core.errors import InvalidArgumentError

TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
METADATA = "metadata.tsv"
SPRITE = "sprite.png"
CHECKPOINT_PREFIX = "embedding.ckpt"
# TensorBoard's projector shows sprites of at most 8192 x 8192 pixels.
MAX_SPRITE_PIXELS = 8192


def embedding_model(model, layer: str | None = None):
    """A model from ``model``'s input to its embeddings: ``layer``'s output, or the classifier's input.

    Returns:
        ``(keras.Model, description)``, the description saying which tensor it outputs.

    Args:
        model: A functional ``keras.Model``.
        layer: A layer name; default: the input of the last layer with weights (the classifier), i.e.
            the penultimate layer's output.

    Raises:
        InvalidArgumentError: For an unknown layer name, or a model with no weighted layer.
    """
    import keras

    if layer is not None:
        names = [l.name for l in model.layers]
        if layer not in names:
            from hub_core.errors import unknown

            raise unknown(f"layer of {model.name}", layer, names)
        output, where = model.get_layer(layer).output, f"output of {layer}"
    else:
        weighted = [l for l in model.layers if l.weights]
        if not weighted:
            raise InvalidArgumentError(f"{model.name} has no layer with weights, so it has no classifier whose input "
                                       "is the embedding; pass layer=NAME (--layer).")
        output, where = weighted[-1].input, f"input of {weighted[-1].name}"
    return keras.Model(model.inputs, output, name=f"{model.name}_embedding"), where


def embed(model: Any, data: str | os.PathLike, out: str | os.PathLike, *, layer: str | None = None,
          batch_size: int = 32, image_size: Any = None, sprite_size: int = 32, limit: int = 4096) -> dict[str, Any]:
    """Write the embeddings of an image folder for TensorBoard's projector.

    Args:
        model: A run directory, a ``.keras`` file, a hub model name or a ``keras.Model``.
        data: An image folder with one sub-folder per class.
        out: The log directory to write (created; an earlier embedding there is replaced).
        layer: The layer whose output is embedded (default: the classifier's input); feature maps are
            averaged over their spatial axes.
        batch_size: Prediction batch size.
        image_size: ``(height, width)`` fed to the model (default: the model's input size).
        sprite_size: Height and width of each sprite thumbnail.
        limit: Most images embedded; a larger folder is subsampled evenly (so every class stays).

    Returns:
        ``{"logdir", "count", "dim", "layer", "checkpoint"}``.

    Raises:
        InvalidArgumentError: For a bad layer, limit or sprite size.
        DataError: For a missing or empty image folder.
    """
    import keras
    import numpy as np

    from hub_core import api
    from hub_core.data.images import input_geometry, read_image, scan_class_folders

    per_row_max = MAX_SPRITE_PIXELS // max(1, int(sprite_size))
    if int(limit) < 1 or int(sprite_size) < 1 or int(limit) > per_row_max ** 2:
        raise InvalidArgumentError(f"limit must be 1 to {per_row_max ** 2} at sprite_size {sprite_size} (a sprite holds "
                                   f"at most {MAX_SPRITE_PIXELS}x{MAX_SPRITE_PIXELS} pixels), not {limit}.")
    model = model if isinstance(model, keras.Model) else api.load(model)
    root = pathlib.Path(data)
    images_of = _data_classes(root, model)
    size, channels = input_geometry(model, image_size, None)
    files, labels, _ = scan_class_folders(root, images_of, strict=False)
    if len(files) > limit:  # evenly spaced, before anything is decoded
        keep = np.linspace(0, len(files) - 1, int(limit)).round().astype(int)
        files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    if not files:
        from hub_core.errors import DataError

        raise DataError(f"{root} holds no readable image; put images in {root}/<class name>/.")
    extractor, where = embedding_model(model, layer)
    vectors = []
    for start in range(0, len(files), batch_size):
        batch = np.stack([read_image(f, size, channels) for f in files[start:start + batch_size]]).astype("float32")
        features = np.asarray(extractor.predict(batch, verbose=0), dtype="float32")
        vectors.append(features.reshape(len(batch), -1, features.shape[-1]).mean(axis=1) if features.ndim > 2 else features)
    vectors = np.concatenate(vectors)
    logdir = pathlib.Path(out)
    logdir.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".embed-", dir=logdir))
    try:
        checkpoint = _write_projector(staging, vectors, files, labels, images_of, root, int(sprite_size))
        for old in list(logdir.glob(f"{CHECKPOINT_PREFIX}*")):
            old.unlink()
        for item in staging.iterdir():
            os.replace(item, logdir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"logdir": logdir, "count": len(files), "dim": int(vectors.shape[1]), "checkpoint": logdir / checkpoint,
            "layer": where}


def _data_classes(root: pathlib.Path, model) -> list[str]:
    """The class sub-folders, in the model's label order when it knows its class names."""
    from hub_core.errors import DataError

    if not root.is_dir():
        raise DataError(f"Image folder {root} does not exist; pass a folder with one sub-folder of images per class.")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = [n for n in getattr(model, "class_names", ()) or () if n in found]
    return known + [n for n in found if n not in known]


def _write_projector(folder: pathlib.Path, vectors, files, labels, names, root: pathlib.Path, sprite_size: int) -> str:
    """The checkpoint, metadata, sprite and projector config in ``folder``; returns the checkpoint's name."""
    import tensorflow as tf
    from tensorboard.plugins import projector

    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(vectors, name="embedding"))
    saved = pathlib.Path(checkpoint.save(str(folder / CHECKPOINT_PREFIX))).name
    clean = lambda text: str(text).replace("\t", " ").replace("\n", " ")
    rows = ["label\tfile"] + [f"{clean(names[label])}\t{clean(pathlib.Path(f).relative_to(root))}"
                              for f, label in zip(files, labels)]
    (folder / METADATA).write_text("\n".join(rows) + "\n", encoding="utf-8")
    _sprite(files, sprite_size).save(folder / SPRITE, format="PNG")
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA
    embedding.sprite.image_path = SPRITE
    embedding.sprite.single_image_dim.extend([sprite_size, sprite_size])
    projector.visualize_embeddings(str(folder), config)
    return saved


def _sprite(files, size: int):
    """The images as ``size`` x ``size`` thumbnails, row by row in a square grid."""
    from PIL import Image

    from hub_core.data.images import read_image

    per_row = math.ceil(math.sqrt(len(files)))
    sheet = Image.new("RGB", (per_row * size, per_row * size), "white")
    for index, file in enumerate(files):
        thumbnail = Image.fromarray(read_image(file, (size, size), 3))
        sheet.paste(thumbnail, ((index % per_row) * size, (index // per_row) * size))
    return sheet
