"""The ``check_*`` functions of the conformance kit.

Every check takes ``(plugin_or_name, variant_name=None)`` and raises
``AssertionError`` with a readable message when the plugin does not conform.
"""

from __future__ import annotations

import functools

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from hub_core.hub import catalog, registry
from hub_core.hub.plugin import TASKS, ModelPlugin, SampleBatch, optimizer_names
from hub_core.hub.spec import preprocessing_name

Check = Callable[..., None]


@dataclass
class CheckResult:
    """The outcome of one check on one variant."""

    check: str
    variant: str
    status: str  # "passed", "failed" or "expected failure"
    message: str = ""


def _plugin(plugin_or_name: ModelPlugin | str) -> ModelPlugin:
    if isinstance(plugin_or_name, ModelPlugin):
        return plugin_or_name
    return registry.get_plugin(plugin_or_name)


def check_metadata(plugin_or_name, variant_name: str | None = None) -> None:
    """Names, task, description, license, paper, variants and weight sets are complete."""
    plugin = _plugin(plugin_or_name)
    assert plugin.name, "the plugin class must set `name`"
    assert plugin.task in TASKS, f"task '{plugin.task}' is not one of {TASKS}"
    assert plugin.description, "the plugin must have a one-line `description`"
    assert plugin.license, "the plugin must declare the `license` of its code"
    assert plugin.paper is not None and plugin.paper.url, "the plugin must cite its `paper` with a URL"
    names = [v.name for v in plugin.variants]
    assert names, "the plugin must declare at least one variant"
    assert len(set(names)) == len(names), f"variant names repeat: {names}"
    assert plugin.default_variant in names, f"default_variant '{plugin.default_variant}' is not a variant"
    for variant in plugin.variants:
        assert variant.description, f"variant '{variant.name}' needs a description"
        set_names = [w.name for w in variant.weights]
        assert variant.default_weights is None or variant.default_weights in set_names, (
            f"variant '{variant.name}' defaults to unknown weight set '{variant.default_weights}'"
        )
        for weight_set in variant.weights:
            where = f"weight set '{weight_set.name}' of '{variant.name}'"
            assert weight_set.license and weight_set.license != "unknown", f"{where} needs a license"
            assert weight_set.description, f"{where} needs a description"
            assert weight_set.files or weight_set.source or weight_set.note, (
                f"{where} has no files, no source and no note saying where it comes from"
            )
            for weight_file in weight_set.files:
                assert weight_file.url, f"{where} has a file without URL"
                assert weight_file.sha256 or weight_file.md5 or weight_set.note, (
                    f"{where} file {weight_file.name} has no hash and no note explaining why"
                )


def check_module_imports_without_tensorflow(plugin_or_name, variant_name: str | None = None) -> None:
    """Importing the plugin's module (in a fresh interpreter) imports neither TensorFlow nor Keras."""
    plugin = _plugin(plugin_or_name)
    module = type(plugin).__module__
    code = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        "print(','.join(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"importing {module} failed: {result.stderr.strip().splitlines()[-1:]}"
    heavy = result.stdout.strip()
    assert not heavy, f"importing {module} imported {heavy}; import it lazily inside the builder"


def check_catalog_data(plugin_or_name, variant_name: str | None = None) -> None:
    """The catalog data listing reads for this plugin (``registry.json`` or its ``hub_catalog.json``) matches its class."""
    plugin = _plugin(plugin_or_name)
    registration = registry.registrations().get(plugin.name)
    assert registration is not None, f"plugin '{plugin.name}' is not registered under the hub_core.plugins entry points"
    if registration.value.startswith(catalog.BUILTIN_PACKAGE + "."):
        described = catalog.builtin()["plugins"].get(plugin.name)
        fix = "python -m hub_core.hub.catalog --write"
    else:
        described = catalog.distribution_entry(registration)
        fix = (f"python -m hub_core.hub.catalog --plugin {plugin.name} --out <package>/{catalog.DATA_FILE} "
               "and ship it as package data")
    assert described is not None, f"'{registration.distribution}' ships no catalog data for '{plugin.name}'; run {fix}"
    assert described == plugin.catalog_entry(), f"the catalog data of '{plugin.name}' differs from its class; run {fix}"


def _variant(plugin: ModelPlugin, variant_name: str | None):
    return plugin.variant(variant_name)


def _build(plugin: ModelPlugin, variant, batch: SampleBatch):
    import keras

    keras.utils.set_random_seed(0)
    return plugin.build(variant, weights=None, **batch.build_kwargs)


@functools.lru_cache(maxsize=2)
def _small_model(plugin_name: str, variant_name: str):
    plugin = registry.get_plugin(plugin_name)
    variant = plugin.variant(variant_name)
    batch = plugin.sample_batch(variant)
    return _build(plugin, variant, batch), batch


def _model_and_batch(plugin: ModelPlugin, variant_name: str | None):
    variant = _variant(plugin, variant_name)
    if registry.registrations().get(plugin.name) is not None and registry.get_plugin(plugin.name) is plugin:
        return _small_model(plugin.name, variant.name)
    batch = plugin.sample_batch(variant)
    return _build(plugin, variant, batch), batch


def _predict(model, inputs):
    """The model's outputs on one batch, called directly, as float32 arrays.

    Not through ``predict_on_batch``: on the kit's one small batch, tracing a predict function costs several
    times the call (7 s against 1 s of CPU for Inception-ResNet-v2) and gives the same outputs. The traced
    paths stay covered: ``check_raw_image_prediction`` compares ``hub.predict`` with this call, and
    ``check_training_step`` trains through a traced train step.
    """
    import numpy as np

    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o, dtype="float32") for o in outputs]
    return [np.asarray(outputs, dtype="float32")]


def _assert_same_outputs(expected, actual, what: str, atol: float = 1e-5) -> None:
    import numpy as np

    assert len(expected) == len(actual), f"{what}: {len(actual)} outputs instead of {len(expected)}"
    for a, b in zip(expected, actual):
        assert a.shape == b.shape, f"{what}: output shape {b.shape} instead of {a.shape}"
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        assert diff <= atol * max(1.0, float(np.max(np.abs(a))) if a.size else 1.0), f"{what}: max abs diff {diff:g}"


def check_default_build(plugin_or_name, variant_name: str | None = None) -> None:
    """The variant builds at its default shape, with the declared parameter count."""
    plugin = _plugin(plugin_or_name)
    variant = _variant(plugin, variant_name)
    batch = plugin.sample_batch(variant, small=False, batch_size=1)
    kwargs = {k: v for k, v in batch.build_kwargs.items() if k not in ("input_shape", "classes")}
    model = plugin.build(variant, weights=None, **kwargs)
    if variant.num_params is not None:
        assert model.count_params() == variant.num_params, (
            f"'{variant.name}' has {model.count_params():,} parameters, metadata says {variant.num_params:,}"
        )


def check_small_build(plugin_or_name, variant_name: str | None = None) -> None:
    """The variant builds at a small shape and runs a finite forward pass."""
    import numpy as np

    plugin = _plugin(plugin_or_name)
    model, batch = _model_and_batch(plugin, variant_name)
    for output in _predict(model, batch.inputs):
        assert np.all(np.isfinite(output)), "the forward pass produced non-finite values"


def check_output_shapes(plugin_or_name, variant_name: str | None = None) -> None:
    """Outputs have the batch size of the inputs, and classifiers one column per class."""
    plugin = _plugin(plugin_or_name)
    model, batch = _model_and_batch(plugin, variant_name)
    outputs = _predict(model, batch.inputs)
    batch_size = len(batch.targets) if not isinstance(batch.targets, dict) else len(next(iter(batch.targets.values())))
    for output in outputs:
        assert output.shape[0] == batch_size, f"output batch {output.shape[0]} instead of {batch_size}"
    classes = batch.build_kwargs.get("classes")
    if plugin.task == "image-classification" and classes:
        assert outputs[0].shape == (batch_size, classes), f"classifier output {outputs[0].shape}, expected {(batch_size, classes)}"


def check_keras_round_trip(plugin_or_name, variant_name: str | None = None) -> None:
    """A ``.keras`` save and safe-mode load gives identical outputs."""
    import keras

    plugin = _plugin(plugin_or_name)
    model, batch = _model_and_batch(plugin, variant_name)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
    _assert_same_outputs(_predict(model, batch.inputs), _predict(restored, batch.inputs), ".keras round trip")


def check_weights_round_trip(plugin_or_name, variant_name: str | None = None) -> None:
    """``save_weights`` then ``load_weights`` into a fresh build gives identical outputs."""
    plugin = _plugin(plugin_or_name)
    model, batch = _model_and_batch(plugin, variant_name)
    variant = _variant(plugin, variant_name)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.weights.h5")
        model.save_weights(path)
        import keras

        keras.utils.set_random_seed(1)
        fresh = plugin.build(variant, weights=None, **batch.build_kwargs)
        fresh.load_weights(path)
    _assert_same_outputs(_predict(model, batch.inputs), _predict(fresh, batch.inputs), "weights round trip")


def check_preprocessing(plugin_or_name, variant_name: str | None = None) -> None:
    """The declared preprocessing is valid; ``plugin.preprocess`` applies it, keeps the shape and stays bounded."""
    import numpy as np

    from hub_core.errors import InvalidArgumentError
    from hub_core.vision.preprocessing import apply_preprocessing, check_preprocessing as check_declaration

    plugin = _plugin(plugin_or_name)
    variant = _variant(plugin, variant_name)
    declared = plugin.preprocessing(variant)
    try:
        check_declaration(declared)
    except InvalidArgumentError as error:
        raise AssertionError(str(error)) from None
    batch = plugin.sample_batch(variant)
    if isinstance(batch.inputs, dict):
        return  # tabular plugins preprocess inside the model; the round trips cover it
    raw = np.array(batch.inputs, copy=True)
    processed = np.asarray(plugin.preprocess(raw, variant))
    np.testing.assert_array_equal(raw, batch.inputs, err_msg="preprocess modified its input in place")
    assert processed.shape == raw.shape, f"preprocess changed the shape {raw.shape} -> {processed.shape}"
    assert np.issubdtype(processed.dtype, np.floating), f"preprocess returned {processed.dtype}, expected floats"
    assert np.all(np.isfinite(processed)), "preprocess produced non-finite values"
    assert np.max(np.abs(processed)) <= 255.0, "preprocess produced values beyond +-255"
    assert np.allclose(processed, apply_preprocessing(raw, declared), atol=1e-5), (
        f"preprocess() differs from the declared preprocessing '{preprocessing_name(declared)}' of "
        f"'{variant.name}', which the hub applies; declare Variant(preprocessing=...) and do not override preprocess()"
    )


def check_raw_image_prediction(plugin_or_name, variant_name: str | None = None) -> None:
    """``hub.predict`` on raw 0..255 images equals the model applied to the variant's declared preprocessing.

    The model ``hub.predict`` uses (built to take raw pixels, as training does) and the plain build (as
    ``hub.load`` gives it) are built from the same seed; the plain one gets ``plugin.preprocessing(variant)``
    applied by :func:`~hub_core.vision.preprocessing.apply_preprocessing`. A plugin that bakes in preprocessing
    it does not declare, or ignores ``include_preprocessing``, fails.
    """
    import keras
    import numpy as np

    from hub_core.training.predict import predict
    from hub_core.vision.builder import raw_pixel_model
    from hub_core.vision.preprocessing import apply_preprocessing

    plugin = _plugin(plugin_or_name)
    variant = _variant(plugin, variant_name)
    plain, batch = _model_and_batch(plugin, variant_name)  # built from seed 0
    keras.utils.set_random_seed(0)
    raw_model = raw_pixel_model(plugin, variant, functools.partial(plugin.build, variant, weights=None),
                                **batch.build_kwargs)
    expected = _predict(plain, apply_preprocessing(batch.inputs, plugin.preprocessing(variant)))[0]
    results = predict(raw_model, batch.inputs, top_k=expected.shape[-1], engine="keras")
    actual = np.zeros_like(expected)
    for row, result in zip(actual, results):
        for entry in result["top"]:
            row[entry["index"]] = entry["score"]
    _assert_same_outputs([expected], [actual], f"hub.predict on raw images of '{variant.name}' versus the model on its "
                         f"declared preprocessing '{preprocessing_name(plugin.preprocessing(variant))}'", atol=1e-4)


def check_training_step(plugin_or_name, variant_name: str | None = None) -> None:
    """A few optimizer steps on one batch lower the training loss."""
    import keras

    plugin = _plugin(plugin_or_name)
    variant = _variant(plugin, variant_name)
    _assert_training_lowers_loss(plugin, variant, keras.optimizers.Adam(1e-3), "training")


def check_named_optimizers(plugin_or_name, variant_name: str | None = None) -> None:
    """Each ``"optimizer:NAME"`` capability: ``plugin.optimizer(NAME)`` returns an optimizer that trains the model."""
    import keras

    plugin = _plugin(plugin_or_name)
    variant = _variant(plugin, variant_name)
    for name in optimizer_names(plugin.capabilities):
        optimizer = plugin.optimizer(name, learning_rate=1e-3)
        assert isinstance(optimizer, keras.optimizers.Optimizer), (
            f"the plugin declares 'optimizer:{name}' but optimizer({name!r}) returned {type(optimizer).__name__}, "
            "not a keras.optimizers.Optimizer"
        )
        _assert_training_lowers_loss(plugin, variant, optimizer, f"training with optimizer {name!r}")


def _assert_training_lowers_loss(plugin: ModelPlugin, variant, optimizer, what: str) -> None:
    batch = plugin.sample_batch(variant)
    model = _build(plugin, variant, batch)
    model.compile(optimizer=optimizer, loss=batch.loss)
    # Built here, its slot variables are not created inside the first train step, which TensorFlow then
    # traces once instead of twice (half the time of this check on a large model).
    optimizer.build(model.trainable_variables)
    losses = [float(_first(model.train_on_batch(batch.inputs, batch.targets))) for _ in range(6)]
    assert min(losses[-2:]) < losses[0], f"{what} did not lower the loss: {losses}"


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


CHECKS: dict[str, Check] = {
    "check_metadata": check_metadata,
    "check_catalog_data": check_catalog_data,
    "check_module_imports_without_tensorflow": check_module_imports_without_tensorflow,
    "check_small_build": check_small_build,
    "check_output_shapes": check_output_shapes,
    "check_keras_round_trip": check_keras_round_trip,
    "check_weights_round_trip": check_weights_round_trip,
    "check_preprocessing": check_preprocessing,
    "check_raw_image_prediction": check_raw_image_prediction,
    "check_training_step": check_training_step,
    "check_named_optimizers": check_named_optimizers,
    "check_default_build": check_default_build,
}
PLUGIN_LEVEL = ("check_metadata", "check_catalog_data", "check_module_imports_without_tensorflow")
SLOW = ("check_default_build",)
# What differs between the variants of one family; the other checks test the family's shared code.
VARIANT_CHECKS = ("check_small_build", "check_output_shapes", "check_preprocessing")
LARGE_PARAMS = 10_000_000  # every check on a variant with more parameters (by its metadata) is marked slow


def checks_for(plugin_or_name) -> list[str]:
    """Names of the checks that apply to this plugin, chosen by its task and capabilities."""
    plugin = _plugin(plugin_or_name)
    names = list(CHECKS)
    if plugin.task == "tabular":
        names.remove("check_preprocessing")
    if plugin.task != "image-classification":
        names.remove("check_raw_image_prediction")
    if not optimizer_names(plugin.capabilities):
        names.remove("check_named_optimizers")
    return names


def check_plugin(plugin_or_name, *, include_slow: bool = False, variants: list[str] | None = None) -> list[CheckResult]:
    """Run every applicable check on every variant and return the results.

    Args:
        plugin_or_name: A plugin instance or registered name.
        include_slow: Also build at the full default shape.
        variants: Restrict the per-variant checks to these variants.

    Raises:
        AssertionError: Listing every unexpected failure.
    """
    plugin = _plugin(plugin_or_name)
    expected = dict(getattr(plugin, "expected_failures", {}))
    results = []
    for name in checks_for(plugin):
        if name in SLOW and not include_slow:
            continue
        targets = [None] if name in PLUGIN_LEVEL else (variants or [v.name for v in plugin.variants])
        for variant_name in targets:
            try:
                CHECKS[name](plugin, variant_name)
                status, message = "passed", ""
            except AssertionError as error:
                status, message = ("expected failure", expected[name]) if name in expected else ("failed", str(error))
            results.append(CheckResult(name, variant_name or "*", status, message))
    failures = [r for r in results if r.status == "failed"]
    if failures:
        raise AssertionError(
            f"plugin '{plugin.name}' failed {len(failures)} check(s): "
            + "; ".join(f"{r.check}[{r.variant}]: {r.message}" for r in failures)
        )
    return results


def _fails_with(reason: str) -> Check:
    def check_plugin_loads(plugin_or_name, variant_name=None) -> None:
        raise AssertionError(reason)

    return check_plugin_loads


def parametrize_checks(plugin_names: list[str] | None = None, *, variants: str = "all", every_check: str = "default"):
    """A ``pytest.mark.parametrize`` over ``(plugin_name, variant_name, check)``.

    Args:
        plugin_names: Plugins to cover; every registered plugin by default.
        variants: ``"all"`` or ``"default"`` (only each plugin's default variant).
        every_check: Which variants get every check: ``"default"`` (the default variant; the others get
            ``VARIANT_CHECKS``, what differs between the variants of one family: build, output shapes,
            preprocessing) or ``"all"``.

    Slow checks, and every check of a variant with more than ``LARGE_PARAMS`` parameters, are marked
    ``slow`` (``pytest -m "not slow"`` skips them); a plugin's ``expected_failures`` become strict
    xfails; a plugin that cannot be loaded becomes one failing test with the reason.
    """
    import pytest

    from hub_core.errors import HubError

    for argument, value in (("variants", variants), ("every_check", every_check)):
        if value not in ("all", "default"):
            raise ValueError(f"{argument} must be 'all' or 'default', not {value!r}.")
    params = []
    for plugin_name in plugin_names or list(registry.registrations()):
        try:
            plugin = registry.get_plugin(plugin_name)
        except HubError as error:
            params.append(pytest.param(plugin_name, None, _fails_with(str(error)), id=f"{plugin_name}-plugin-import"))
            continue
        expected = dict(getattr(plugin, "expected_failures", {}))
        chosen = [plugin.default_variant] if variants == "default" else [v.name for v in plugin.variants]
        large = {v.name for v in plugin.variants if (v.num_params or 0) > LARGE_PARAMS}
        names = checks_for(plugin)
        # variant by variant, so consecutive checks share the kit's cached small build of a variant
        pairs = [(n, None) for n in names if n in PLUGIN_LEVEL]
        pairs += [(n, v) for v in chosen for n in names if n not in PLUGIN_LEVEL
                  and (every_check == "all" or v == plugin.default_variant or n in VARIANT_CHECKS)]
        for name, variant_name in pairs:
            marks = [pytest.mark.slow] if name in SLOW or variant_name in large else []
            if name in expected:
                marks.append(pytest.mark.xfail(strict=True, reason=expected[name]))
            params.append(pytest.param(plugin_name, variant_name, CHECKS[name], marks=marks,
                                       id=f"{plugin_name}-{variant_name or 'plugin'}-{name}"))
    return pytest.mark.parametrize(("plugin_name", "variant_name", "check"), params)


