"""The nin plugin: Network in Network on the ImageClassifierPlugin base (1x1-conv classifier, no Dense layer)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hub_core as hub


def digits_32(count: int | None = None):
    """sklearn's 8x8 digits upsampled to 32x32x3 pixels in 0..255 (nearest, 4x), with their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images[:count], np.ones((4, 4))) * (255.0 / 16.0)
    return np.repeat(images[..., None], 3, axis=-1).astype("uint8"), digits.target[:count]


def test_nin_has_no_dense_layer_and_averages_a_convolutional_classifier():
    import keras

    model = hub.load("nin_cifar", weights=None)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    assert model.get_layer("predictions").kernel.shape == (1, 1, 192, 10)
    assert model.output_shape == (None, 10) and model.input_shape == (None, 32, 32, 3)
    features = hub.load("nin_cifar", weights=None, include_top=False, pooling="avg")
    assert features.output_shape == (None, 192)


def test_nin_weights_with_another_class_count_swap_only_the_classifier(tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    trained = hub.load("nin_cifar", weights=None)
    path = tmp_path / "nin.weights.h5"
    trained.save_weights(path)
    four = hub.load("nin_cifar", weights=str(path), num_classes=4)
    assert four.output_shape == (None, 4)
    for layer in trained.layers:
        if layer.weights and layer.name != "predictions":
            for ours, theirs in zip(four.get_layer(layer.name).get_weights(), layer.get_weights()):
                np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(hub.HubError, match="pass num_classes= to replace the classifier"):
        hub.load("nin_cifar", weights=str(path), classes=4)


@pytest.mark.slow
def test_nin_learns_digits_through_hub_train_and_its_run_takes_raw_pixels(tmp_path):
    images, labels = digits_32(600)
    train, test = (images[:400], labels[:400]), (images[400:], labels[400:])
    result = hub.train("nin_cifar", train, epochs=2, batch_size=16, learning_rate=2e-3, run_dir=tmp_path / "run",
                       verbose=0, seed=0)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["plugin"] == "nin" and run["preprocessing"] == "unit"
    # the run's saved model holds the declared 0..1 scaling: evaluate and predict give it raw pixels
    accuracy = hub.evaluate(tmp_path / "run", test)["accuracy"]
    assert accuracy > 0.6, accuracy  # chance is 0.1
    predicted = [r["index"] for r in hub.predict(tmp_path / "run", test[0], top_k=1)]
    np.testing.assert_array_equal(predicted, result.model.predict(test[0], verbose=0).argmax(-1))
