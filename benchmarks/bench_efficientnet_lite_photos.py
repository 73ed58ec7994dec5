"""Which padding, input normalisation and crop the packaged EfficientNet-Lite0 weights were trained with.

The ``.pth`` file stores neither, so the candidates are compared on foolbox's
20 labelled ImageNet photos (``imagenet_NN_<label>.jpg``, 512x512): top-1,
top-5 and the mean negative log-likelihood of the true class (lower is better;
with 20 photos the NLL separates candidates that tie on counts).

* padding: TensorFlow ``"same"`` (asymmetric at stride 2, as the TF
  EfficientNet-Lite checkpoints) or PyTorch's symmetric ``kernel // 2``;
* normalisation: the hub's ``tf`` mode ``(x - 127.5) / 127.5``, Lite's own
  ``(x - 127) / 128``, ImageNet mean/std (``torch`` mode), plain ``x / 255``;
* crop: the whole photo resized to 224, bilinear (as ``hub predict`` reads it) or
  bicubic, or the central 87.5%, bicubic (TF EfficientNet's eval crop,
  ``224 / (224 + 32)``).

Usage: ``python benchmarks/bench_efficientnet_lite_photos.py``. Writes
``benchmarks/results/bench_efficientnet_lite_photos.json`` and prints the table.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import print_table, write_result  # noqa: E402

SIZE = 224
NORMALISATIONS = {
    "tf (x-127.5)/127.5": lambda x: x / 127.5 - 1.0,
    "lite (x-127)/128": lambda x: (x - 127.0) / 128.0,
    "torch ImageNet mean/std": lambda x: (x / 255.0 - np.float32([0.485, 0.456, 0.406])) / np.float32([0.229, 0.224, 0.225]),
    "x/255": lambda x: x / 255.0,
}


def photos() -> tuple[list[pathlib.Path], np.ndarray]:
    """foolbox's 20 labelled ImageNet photos and their labels."""
    folder = pathlib.Path(next(iter(importlib.util.find_spec("foolbox").submodule_search_locations))) / "data"
    files = sorted(folder.glob("imagenet_*.jpg"))
    return files, np.array([int(re.search(r"_(\d+)\.jpg$", f.name).group(1)) for f in files])


def pixels(files, crop_fraction: float, interpolation: str) -> np.ndarray:
    """The photos' central ``crop_fraction`` resized to SIZE, as float32 0..255 RGB.

    The whole photo is read as ``hub predict`` reads it (JPEG decoded at a reduced scale where PIL can);
    a crop is cut from the fully decoded photo.
    """
    from hub_core.vision import imaging

    if crop_fraction == 1.0:
        return imaging.load_images(files, SIZE, crop="center", interpolation=interpolation).astype("float32")
    images = []
    for file in files:
        image = imaging.load_image(file)
        height, width = image.shape[:2]
        side = round(min(height, width) * crop_fraction)
        top, left = (height - side) // 2, (width - side) // 2
        images.append(imaging.load_image(image[top:top + side, left:left + side], SIZE, interpolation=interpolation))
    return np.stack(images).astype("float32")


def symmetric_padding(model):
    """``model`` with every ``"same"``-padded k>1 convolution padding ``k // 2`` on each side instead."""
    import keras

    def symmetric(base):
        class Symmetric(base):
            def call(self, inputs):
                pad = self.kernel_size[0] // 2
                return super().call(keras.ops.pad(inputs, [[0, 0], [pad, pad], [pad, pad], [0, 0]]))

            def compute_output_shape(self, shape):
                pad = 2 * (self.kernel_size[0] // 2)
                return super().compute_output_shape((shape[0], shape[1] + pad, shape[2] + pad, shape[3]))

        return Symmetric

    def clone(layer):
        config = layer.get_config()
        if getattr(layer, "padding", None) == "same" and max(layer.kernel_size) > 1:
            base = keras.layers.DepthwiseConv2D if isinstance(layer, keras.layers.DepthwiseConv2D) else keras.layers.Conv2D
            return symmetric(base).from_config({**config, "padding": "valid"})
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def scores(logits: np.ndarray, labels: np.ndarray) -> dict:
    top5 = np.argsort(-logits, axis=1)[:, :5]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return {"top1": int((top5[:, 0] == labels).sum()), "top5": int((top5 == labels[:, None]).any(axis=1).sum()),
            "true_class_nll": float(-log_probs[np.arange(len(labels)), labels].mean())}


def main() -> None:
    import hub_core as hub

    files, labels = photos()
    same = hub.load("efficientnet_lite0", classifier_activation=None)
    models = {"same (TF)": same, "symmetric (PyTorch)": symmetric_padding(same)}
    crops = {"whole, bilinear (hub predict)": pixels(files, 1.0, "bilinear"),
             "whole, bicubic": pixels(files, 1.0, "bicubic"),
             "central 87.5%, bicubic (TF eval)": pixels(files, 224 / 256, "bicubic")}
    rows = []
    for padding, model in models.items():
        for crop, batch in crops.items():
            for normalisation, normalise in NORMALISATIONS.items():
                logits = model.predict(normalise(batch).astype("float32"), batch_size=20, verbose=0)
                rows.append({"padding": padding, "crop": crop, "normalisation": normalisation, **scores(logits, labels)})
    rows.sort(key=lambda row: row["true_class_nll"])
    print_table(rows, ["padding", "crop", "normalisation", "top1", "top5", "true_class_nll"])
    path = write_result("bench_efficientnet_lite_photos", rows, photos=len(files), image_size=SIZE)
    print(f"best: {rows[0]['padding']}, {rows[0]['crop']}, {rows[0]['normalisation']}; wrote {path}")


if __name__ == "__main__":
    main()
