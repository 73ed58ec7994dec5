"""The loop's Keras callbacks: user callbacks scoped to the whole run, and the per-step state keeper."""

from __future__ import annotations

import functools

from hub_core.training.checkpoints import add_metric_state


@functools.lru_cache(maxsize=None)
def run_scoped_class():
    """The ``RunScoped`` callback class (built on first use: Keras is imported then)."""
    import keras

    class RunScoped(keras.callbacks.Callback):
        """Forwards every hook to a user callback, but begins and ends training once per run.

        The loop calls ``fit`` once per epoch; without this, stateful callbacks
        (``EarlyStopping``, ``ReduceLROnPlateau``) would reset every epoch.
        """

        def __init__(self, inner):
            super().__init__()
            self.inner, self.began = inner, False

        def set_model(self, model):
            super().set_model(model)
            self.inner.set_model(model)

        def set_params(self, params):
            super().set_params(params)
            self.inner.set_params(params)

        def on_train_begin(self, logs=None):
            if not self.began:
                self.began = True
                self.inner.on_train_begin(logs)

        def on_train_end(self, logs=None):
            """Ends with the run (:meth:`end_run`), not with each epoch's ``fit``."""

        def end_run(self):
            if self.began:
                self.inner.on_train_end({})

    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_begin",
                 "on_test_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
                 "on_predict_batch_begin", "on_predict_batch_end"):
        setattr(RunScoped, hook, lambda self, *args, _hook=hook, **kwargs: getattr(self.inner, _hook)(*args, **kwargs))
    return RunScoped


@functools.lru_cache(maxsize=None)
def epoch_state_class():
    """The ``EpochState`` callback class (built on first use: Keras is imported then)."""
    import keras

    class EpochState(keras.callbacks.Callback):
        """Restores metric state, counts steps, checkpoints every N steps and at the epoch end."""

        def __init__(self, run, trainer, phase, epoch: int, skip: int, metric_state):
            super().__init__()
            self.run, self.trainer, self.phase = run, trainer, phase
            self.epoch, self.skip, self.metric_state = epoch, skip, metric_state

        def on_train_batch_end(self, batch, logs=None):
            if self.metric_state:
                state, self.metric_state = self.metric_state, None
                add_metric_state(self.trainer.metrics_variables, state)
            run = self.run
            run.global_step += 1
            every = run.options.checkpoint_every
            done = self.skip + batch + 1
            if run.run_dir is None or not every or run.global_step % int(every) or done >= run.steps_per_epoch:
                return
            values = [keras.ops.convert_to_numpy(v) for v in self.trainer.metrics_variables]
            run.checkpoint(self.trainer, self.phase, self.epoch, done, values)

        def on_epoch_end(self, epoch, logs=None):
            self.run.stop_requested = bool(self.trainer.stop_training)
            self.run.end_epoch(self.trainer, self.phase, epoch, dict(logs or {}))
            self.trainer.stop_training = True  # the loop calls fit once per epoch

    return EpochState
