"""fast_style: transform network, losses, tiling, training on the shared loop, Gatys optimisation, CLI.

Real images only: photos from scikit-image, scikit-learn and matplotlib, and
Van Gogh's The Starry Night from Debian's opencv-doc (installed by
``scripts/install-test-data.sh``).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

import hub_core as hub
from hub_core.cli import main as cli
from hub_core.errors import DataError, InvalidArgumentError

PAINTING_CANDIDATES = (
    pathlib.Path(os.environ.get("HUB_CORE_DATA", pathlib.Path.home() / ".cache" / "hub_core" / "data")) / "starry_night.jpg",
    pathlib.Path("/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"),
)


@pytest.fixture(scope="module")
def starry_night() -> pathlib.Path:
    """The Starry Night; fails (does not skip) with the install command when it is missing."""
    for path in PAINTING_CANDIDATES:
        if path.is_file():
            return path
    pytest.fail("The Starry Night is not installed; run scripts/install-test-data.sh (Debian opencv-doc).")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Real photographs from the scikit-image, scikit-learn and matplotlib packages."""
    import skimage.data
    from matplotlib import cbook
    from sklearn.datasets import load_sample_image

    from hub_core.vision import imaging

    return [skimage.data.astronaut(), skimage.data.chelsea(), load_sample_image("china.jpg"),
            imaging.load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]


@pytest.fixture(scope="module")
def features():
    """The loss network: the hub's VGG16 with the offline HED weights, every layer the tests use."""
    from hub_plugins.fast_style import perceptual

    return perceptual.vgg_features(("relu3_3", "relu4_2", *perceptual.JOHNSON_STYLE_LAYERS, *perceptual.GATYS_STYLE_LAYERS))


def _small_net(**options):
    import keras

    from hub_plugins.fast_style import model

    keras.utils.set_random_seed(0)
    return model.transform_net(**{"width": 4, "residual_blocks": 1, **options})


# --- architecture ------------------------------------------------------------
def test_architecture_follows_the_paper():
    from hub_plugins.fast_style import model

    net = model.transform_net()
    kernels = {layer.name: tuple(layer.kernel.shape) for layer in net.layers if hasattr(layer, "kernel")}
    assert kernels["down1_conv"] == (9, 9, 3, 32)
    assert kernels["down2_conv"] == (3, 3, 32, 64) and net.get_layer("down2_conv").strides == (2, 2)
    assert kernels["down3_conv"] == (3, 3, 64, 128) and net.get_layer("down3_conv").strides == (2, 2)
    assert [n for n in kernels if n.startswith("res")] == [f"res{i}_{ab}_conv" for i in range(1, 6) for ab in "ab"]
    assert all(kernels[f"res{i}_{ab}_conv"] == (3, 3, 128, 128) for i in range(1, 6) for ab in "ab")
    assert kernels["up1_conv"] == (3, 3, 128, 64) and kernels["up2_conv"] == (3, 3, 64, 32)
    assert kernels["out_conv"] == (9, 9, 32, 3)
    types = {type(layer).__name__ for layer in net.layers}
    assert "InstanceNormalization" in types and "BatchNormalization" not in types and "Conv2DTranspose" not in types
    assert net.count_params() == hub.info("fast_style")["variants"]["fast_style"]["num_params"]


def test_filters_are_read_back_from_the_weights(tmp_path):
    """fast_style_lite's ``filters`` option: other channel counts, rebuilt from a weights file alone."""
    from hub_plugins.fast_style import weights

    net = _small_net(upsampling="transpose", filters=(6, 10, 5, 3))
    channels = [net.get_layer(name).output.shape[-1] for name in ("down2_conv", "down3_conv", "res1_b_conv",
                                                                 "up1_deconv", "up2_deconv")]
    assert channels == [6, 10, 10, 5, 3]
    file = tmp_path / "lite.weights.h5"
    net.save_weights(file)
    images = np.random.default_rng(0).uniform(0, 255, (1, 20, 24, 3)).astype("float32")
    reloaded = hub.load("fast_style", weights=str(file))
    np.testing.assert_allclose(reloaded.predict_on_batch(images), net.predict_on_batch(images), atol=1e-3)
    with pytest.raises(InvalidArgumentError, match="do not match the weights"):
        hub.load("fast_style", weights=str(file), filters=[6, 10, 5, 4])
    resize = _small_net(filters=(7, 9, 5, 2))  # Conv2D kernels hold their outputs on the last axis
    arrays = {layer.name: [w.numpy() for w in layer.weights] for layer in resize.layers if layer.weights}
    assert weights.architecture(arrays)["filters"] == (7, 9, 5, 2)


@pytest.mark.parametrize("norm,upsampling", [("instance", "resize"), ("batch", "transpose")])
@pytest.mark.parametrize("height,width", [(33, 47), (17, 65), (40, 40)])
def test_any_size_gives_same_size_pixels(norm, upsampling, height, width):
    net = _small_net(norm=norm, upsampling=upsampling)
    images = np.random.default_rng(0).uniform(0, 255, (2, height, width, 3)).astype("float32")
    out = np.asarray(net.predict_on_batch(images))
    assert out.shape == images.shape
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_instance_norm_matches_numpy():
    from hub_plugins.fast_style.model import InstanceNormalization

    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (2, 5, 7, 4)).astype("float32")
    layer = InstanceNormalization(epsilon=1e-5)
    layer.build(x.shape)
    gamma, beta = rng.normal(size=4).astype("float32"), rng.normal(size=4).astype("float32")
    layer.set_weights([gamma, beta])
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = gamma * (x - mean) / np.sqrt(var + 1e-5) + beta
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_depth_to_space_convolution_matches_numpy():
    """The output convolution's execution (2x2 output pixels per strided step) computes the plain convolution."""
    from hub_plugins.fast_style.model import DepthToSpaceConv2D

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 18, 22, 5)).astype("float32")
    layer = DepthToSpaceConv2D(3, 9, padding="valid")
    layer.build(x.shape)
    kernel, bias = rng.normal(size=(9, 9, 5, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    layer.set_weights([kernel, bias])
    windows = np.lib.stride_tricks.sliding_window_view(x, (9, 9), axis=(1, 2))  # (2, 10, 14, 5, 9, 9)
    expected = np.einsum("bhwcij,ijco->bhwo", windows, kernel) + bias
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="stride-1 'valid'"):
        DepthToSpaceConv2D(3, 3, strides=2)


def test_reflect_padding_matches_numpy():
    from hub_plugins.fast_style.model import ReflectionPadding2D

    x = np.arange(2 * 5 * 6 * 3, dtype="float32").reshape(2, 5, 6, 3)
    padded = np.asarray(ReflectionPadding2D((1, 2, 3, 4))(x))
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (1, 2), (3, 4), (0, 0)], mode="reflect"))
    to_multiple = np.asarray(ReflectionPadding2D(multiple=4)(x))
    np.testing.assert_array_equal(to_multiple, np.pad(x, [(0, 0), (0, 3), (0, 2), (0, 0)], mode="reflect"))


# --- tiling ------------------------------------------------------------------
def test_tiles_match_the_untiled_result(photos):
    """Batch norm (inference): exact when a quarter of the overlap covers the receptive field.

    Instance norm normalises each tile on its own statistics: with a random
    network (harsher than a trained one) the tiles stay well within the
    image's own spread of values.
    """
    from hub_plugins.fast_style import style
    from hub_core.vision import imaging

    image = imaging.load_pixels(photos[0], (226, 198))
    for norm in ("batch", "instance"):
        net = _small_net(norm=norm)  # receptive field 45 px: radius 22 < 96 // 4
        whole = style.transform(net, image, engine="keras")
        tiled = style.transform(net, image, max_pixels=128 * 128, tile_size=128, overlap=96, engine="keras")
        assert tiled.shape == whole.shape
        spread = float(np.mean(np.abs(whole - whole.mean())))
        assert spread > 5.0, "the output must depend on the image for the comparison to mean anything"
        difference = np.abs(tiled - whole)
        if norm == "batch":
            assert difference.max() < 1e-3, difference.max()
        else:
            assert difference.mean() < 0.4 * spread, (difference.mean(), spread)


def test_tiling_arguments_are_checked(photos):
    from hub_plugins.fast_style import style

    with pytest.raises(InvalidArgumentError, match="multiples of 4"):
        style.transform(_small_net(), np.zeros((64, 64, 3), "float32"), max_pixels=16, tile_size=30, overlap=8)


# --- losses ------------------------------------------------------------------
def test_gram_and_losses_match_numpy():
    from hub_plugins.fast_style import perceptual

    rng = np.random.default_rng(2)
    f = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    flat = f.reshape(2, 12, 5)
    expected = np.einsum("bnc,bnd->bcd", flat, flat) / (3 * 4 * 5)
    np.testing.assert_allclose(np.asarray(perceptual.gram_matrix(f)), expected, rtol=1e-5)
    g = rng.normal(size=f.shape).astype("float32")
    content = float(perceptual.content_loss({"a": g}, {"a": f}, ["a"]))
    assert content == pytest.approx(np.mean((g - f) ** 2) / np.mean(f ** 2), rel=1e-5)
    images = rng.uniform(0, 255, (1, 6, 7, 3)).astype("float32")
    tv = float(perceptual.total_variation(images))
    unit = images / 255.0
    assert tv == pytest.approx(np.mean(np.diff(unit, axis=1) ** 2) + np.mean(np.diff(unit, axis=2) ** 2), rel=1e-5)


def test_style_loss_prefers_the_painting(features, starry_night, photos):
    """The painting at another resolution matches the painting's Grams far better than a photo does."""
    from hub_plugins.fast_style import perceptual
    from hub_core.vision import imaging

    painting = imaging.load_pixels(starry_night, 128)
    loss = perceptual.PerceptualLoss(features, painting)
    smaller = imaging.load_pixels(starry_night, 96)[None]
    photo = imaging.load_pixels(photos[1], smaller.shape[1:3])[None]
    assert float(loss(smaller, smaller)["style"]) < 0.5 * float(loss(photo, photo)["style"])
    assert float(loss(photo, photo)["content"]) == pytest.approx(0.0, abs=1e-6)


# --- training on the shared loop ----------------------------------------------
def test_train_style_lowers_the_loss_and_saves_a_loadable_run(tmp_path, features, starry_night, photos):
    from hub_plugins.fast_style import perceptual
    from hub_core.vision import imaging

    start = tmp_path / "start.weights.h5"
    _small_net(width=8, residual_blocks=2).save_weights(start)
    batch = np.stack([imaging.load_image(p, 32, crop="center") for p in photos]).astype("float32")
    measure = perceptual.PerceptualLoss(features, np.asarray(imaging.load_image(starry_night, 64), "float32"), style_weight=10.0)
    before = float(measure(batch, hub.load("fast_style", weights=str(start)).predict_on_batch(batch))["loss"])

    run_dir = tmp_path / "run"
    result = hub.train_style(starry_night, photos, image_size=32, batch_size=4, steps=12, style_size=64, run_dir=run_dir,
                             preview_every=6, initial_weights=start, features=features, learning_rate=1e-2, verbose=0)
    after = float(measure(batch, result.model.predict_on_batch(batch))["loss"])
    assert after < 0.8 * before, (before, after)
    assert {p.name for p in (run_dir / "previews").iterdir()} == {"step_000006.png", "step_000012.png"}
    assert (run_dir / "checkpoints").is_dir() and (run_dir / "metrics.json").is_file()
    reloaded = hub.load("fast_style", weights=str(run_dir))
    np.testing.assert_allclose(reloaded.predict_on_batch(batch), result.model.predict_on_batch(batch), atol=1e-3)
    with pytest.raises(InvalidArgumentError, match="do not match the weights"):
        hub.load("fast_style", weights=str(run_dir), norm="batch")


def test_train_style_resumes_after_a_crash(tmp_path, features, starry_night, photos):
    import keras

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                raise RuntimeError("simulated crash")

    options = dict(image_size=32, batch_size=2, steps=8, style_size=64, run_dir=tmp_path / "run", checkpoint_every=4,
                   preview_every=4, width=4, residual_blocks=1, features=features, verbose=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        hub.train_style(starry_night, photos, callbacks=[Crash()], **options)
    assert not (tmp_path / "run" / "transform.weights.h5").exists()
    result = hub.train_style(starry_night, photos, **options)
    assert result.resumed_from == {"epoch": 0, "step": 4}
    assert sorted(p.name for p in (tmp_path / "run" / "previews").iterdir()) == ["step_000004.png", "step_000008.png"]
    assert (tmp_path / "run" / "transform.weights.h5").is_file()
    first = (tmp_path / "run" / "transform.weights.h5").read_bytes()
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        hub.train_style(starry_night, photos, **{**options, "resume": False})
    assert (tmp_path / "run" / "transform.weights.h5").read_bytes() == first
    result = hub.train_style(starry_night, photos, **{**options, "resume": False, "overwrite": True})
    assert result.resumed_from is None
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("run.")]
    assert len(moved) == 1 and (moved[0] / "transform.weights.h5").read_bytes() == first


def test_train_style_reads_class_subfolders(tmp_path, features, starry_night, photos):
    """A folder of class sub-folders trains on every photo of every class; hidden files and folders are skipped."""
    from hub_core.vision import imaging

    folder = tmp_path / "photos"
    for relative, photo in (("cats/chelsea.jpg", photos[1]), ("people/grace.png", photos[3]), ("astronaut.jpg", photos[0]),
                            (".thumbnails/chelsea.jpg", photos[1]), ("cats/.chelsea.jpg", photos[1])):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        imaging.save_image(photo[:64, :64], folder / relative)
    (folder / "people" / "notes.txt").write_text("not an image")
    assert imaging.list_images(folder) == [str(folder / name) for name in ("astronaut.jpg", "cats/chelsea.jpg", "people/grace.png")]
    result = hub.train_style(starry_night, folder, image_size=32, batch_size=3, epochs=1, style_size=64, width=4,
                             residual_blocks=1, features=features, verbose=0)
    assert result.model.predict_on_batch(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 32, 32, 3)
    (folder / "cats" / "chelsea.jpg").unlink()
    (folder / "people" / "grace.png").unlink()
    (folder / "astronaut.jpg").unlink()
    with pytest.raises(DataError, match="neither directly nor in its sub-folders"):
        imaging.list_images(folder)


def test_identity_steps_start_training_from_the_photo(features, starry_night, photos):
    """identity_steps first fits the network to reproduce its input: its output nears the photo, a random one's does not."""
    from hub_core.vision import imaging

    batch = np.stack([imaging.load_image(p, 32, crop="center") for p in photos]).astype("float32")
    options = dict(width=4, residual_blocks=1)
    result = hub.train_style(starry_night, photos, image_size=32, content_size=32, batch_size=2, steps=1, style_size=32,
                             identity_steps=60, learning_rate=1e-2, style_weight=0.0, features=features, verbose=0, **options)
    random_error = np.abs(hub.load("fast_style", **options).predict_on_batch(batch) - batch).mean()
    assert np.abs(result.model.predict_on_batch(batch) - batch).mean() < 0.7 * random_error


def test_identity_steps_run_when_the_run_directory_has_no_readable_checkpoint(features, starry_night, photos, tmp_path):
    """A resumed run whose only checkpoint is damaged restarts from scratch, identity steps included."""
    from hub_core.training import runs
    from hub_core.vision import imaging

    run = runs.RunDir(tmp_path / "run")
    run.save_checkpoint({"epoch": 0, "step": 1, "global_step": 1}, {"w": np.zeros(3)})
    checkpoint = run.checkpoints / run.manifest()["checkpoints"][0]["file"]
    checkpoint.write_bytes(checkpoint.read_bytes()[:50])
    batch = np.stack([imaging.load_image(p, 32, crop="center") for p in photos]).astype("float32")
    options = dict(width=4, residual_blocks=1)
    result = hub.train_style(starry_night, photos, image_size=32, content_size=32, batch_size=2, steps=1, style_size=32,
                             identity_steps=60, learning_rate=1e-2, style_weight=0.0, features=features, verbose=0,
                             run_dir=run.path, resume=True, **options)
    random_error = np.abs(hub.load("fast_style", **options).predict_on_batch(batch) - batch).mean()
    assert np.abs(result.model.predict_on_batch(batch) - batch).mean() < 0.7 * random_error


def test_train_style_arguments(photos, starry_night, tmp_path):
    with pytest.raises(InvalidArgumentError, match="exactly one of steps= and epochs="):
        hub.train_style(starry_night, photos, image_size=32)
    with pytest.raises(DataError, match="does not exist"):
        hub.train_style(starry_night, tmp_path / "missing", image_size=32, steps=1)
    with pytest.raises(InvalidArgumentError, match="identity_steps >= 0"):
        hub.train_style(starry_night, photos, image_size=32, steps=1, identity_steps=-1)


# --- Gatys optimisation --------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_gatys_optimisation_lowers_its_loss(features, starry_night, photos, optimizer):
    from hub_plugins.fast_style import style

    image, history = style.optimize(photos[1], starry_night, size=48, steps=6, optimizer=optimizer, features=features)
    assert image.dtype == np.uint8 and image.shape[2] == 3 and max(image.shape[:2]) == 48
    assert history[-1]["loss"] < 0.7 * history[0]["loss"], [h["loss"] for h in history]
    assert history[0]["content"] == pytest.approx(0.0, abs=1e-6)  # it starts from the content image


def test_lbfgs_takes_its_steps_on_a_loss_with_tiny_gradients(features, starry_night, photos):
    """scipy's default tolerances end L-BFGS when every pixel's gradient is under 1e-5, as on a loss of order 1."""
    from hub_plugins.fast_style import style

    _, history = style.optimize(photos[1], starry_night, size=32, steps=5, features=features,
                                content_weight=1e-4, style_weight=1e-4, tv_weight=1e-6)
    assert len(history) >= 5 and history[-1]["loss"] < history[0]["loss"], [h["loss"] for h in history]


JAX_SCRIPT = r"""
import json, sys
import keras, skimage.data
from hub_plugins.fast_style import style
out = {"backend": keras.backend.backend()}
for optimizer in ("adam", "lbfgs"):
    image, history = style.optimize(skimage.data.chelsea(), sys.argv[1], size=32, steps=4, optimizer=optimizer)
    out[optimizer] = [h["loss"] for h in history]
out["tensorflow"] = "tensorflow" in sys.modules
print(json.dumps(out))
"""


def test_gatys_runs_on_jax_gradients(starry_night):
    """The same keras.ops losses optimise under KERAS_BACKEND=jax, with jax's gradients and no TensorFlow."""
    import json
    import subprocess
    import sys

    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(starry_night)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and not report["tensorflow"]
    for optimizer in ("adam", "lbfgs"):
        assert report[optimizer][-1] < 0.8 * report[optimizer][0], (optimizer, report[optimizer])


def test_the_facade_hands_style_functions_to_the_plugin():
    """``hub.stylize``/``hub.train_style`` are the plugin's, found through the hub_core.functions entry points."""
    import keras

    from hub_plugins.fast_style import perceptual, style

    assert hub.stylize is style.stylize and hub.train_style is style.train_style
    assert keras.saving.get_registered_name(perceptual.StyleTrainer) == "fast_style>StyleTrainer"


def test_stylize_fast_api(tmp_path, photos):
    from hub_core.vision import imaging

    path = tmp_path / "photo.png"
    imaging.save_image(photos[0][:50, :70], path)
    net = _small_net()
    out = hub.stylize(net, path, engine="keras")
    assert out.dtype == np.uint8 and out.shape == (50, 70, 3)
    assert [o.shape for o in hub.stylize(net, [path, photos[1]], size=40, engine="keras")] == [(29, 40, 3), (27, 40, 3)]
    with pytest.raises(InvalidArgumentError, match="engine must be one of"):
        hub.stylize(net, path, engine="tensorrt")
    with pytest.raises(InvalidArgumentError, match="method must be one of"):
        hub.stylize(net, path, method="paint")
    with pytest.raises(InvalidArgumentError, match="method='optimize'"):
        hub.stylize(photos[0], path)


# --- CLI ---------------------------------------------------------------------
def _run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_stylize_writes_pngs(tmp_path, capsys, photos):
    from hub_core.vision import imaging

    weights = tmp_path / "net.weights.h5"
    _small_net().save_weights(weights)
    image = tmp_path / "cat.jpg"
    imaging.save_image(photos[1][:64, :80], image)
    code, out, err = _run_cli(capsys, "stylize", str(image), "--style", str(weights), "-o", str(tmp_path / "out"), "--size", "40",
                              "--engine", "keras")
    assert code == 0, err
    written = tmp_path / "out" / "cat_stylized.png"
    assert out.strip() == str(written)
    assert imaging.load_pixels(written).shape == (32, 40, 3)


@pytest.mark.parametrize("argv,message", [
    (["stylize", "x.jpg", "--style", "no_such_run", "-o", "out"], "--style no_such_run is neither a shipped style"),
    (["train-style", "no_such_style.jpg", "photos", "--run-dir", "r", "--steps", "1"], "Style image no_such_style.jpg does not exist"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_cli(capsys, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("hub: error: ") and message in err


def test_cli_stylize_missing_image(tmp_path, capsys):
    weights = tmp_path / "net.weights.h5"
    _small_net().save_weights(weights)
    code, _, err = _run_cli(capsys, "stylize", str(tmp_path / "nope.jpg"), "--style", str(weights), "-o", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "nope.jpg does not exist" in err
