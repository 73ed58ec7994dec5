"""The conformance kit: small public ``check_*`` functions every plugin must pass.

``check_plugin(plugin_or_name)`` runs the checks that fit the plugin's task and
capabilities. The same checks feed pytest through :func:`parametrize_checks`:

    from hub_core import testing

    @testing.parametrize_checks()
    def test_conformance(plugin_name, variant_name, check):
        check(plugin_name, variant_name)

Known failures are declared on the plugin as ``expected_failures = {"check_name": "reason"}``
and reported as expected, never skipped silently.
"""

from hub_core.testing.checks import (  # noqa: F401
    CHECKS,
    CheckResult,
    check_catalog_data,
    check_default_build,
    check_keras_round_trip,
    check_metadata,
    check_module_imports_without_tensorflow,
    check_named_optimizers,
    check_output_shapes,
    check_plugin,
    check_preprocessing,
    check_raw_image_prediction,
    check_small_build,
    check_training_step,
    check_weights_round_trip,
    checks_for,
    parametrize_checks,
)
from hub_core.testing.models import randomize_statistics  # noqa: F401
