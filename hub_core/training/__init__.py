"""One training loop for every model: fine-tuning, training, evaluation, prediction.

``hub.fine_tune`` adapts a pretrained hub model (or any ``keras.Model``) to
new classes; ``hub.train`` runs the same loop from scratch. Both write a run
directory (see :mod:`hub_core.training.runs`), checkpoint atomically at every epoch
end and every ``checkpoint_every`` steps, and resume after a crash when
called again with the same arguments.

Example:
    >>> import hub_core as hub
    >>> train, val = hub.data.image_folder("flowers/", image_size=(64, 64), validation_split=0.2)
    >>> result = hub.fine_tune("vgg16", train, val, epochs=4, run_dir="runs/flowers")
    >>> result.best, result.final
    >>> hub.evaluate("runs/flowers", val)["accuracy"]
    >>> hub.predict("runs/flowers", ["daisy.jpg"])[0]["label"]

Strategies (``strategy=``):
    ``"head"``: the backbone is frozen and only the head (the plugin's last
    block, usually the classifier, plus any dropout before it) trains.
    ``"full"``: every layer trains.
    ``"two_phase"`` (default): the head trains for ``head_epochs`` epochs, then
    the top ``unfreeze`` blocks of ``plugin.blocks(model)`` are unfrozen and
    train with ``fine_tune_learning_rate`` (default ``learning_rate / 10``),
    multiplied by ``layer_decay ** depth`` for blocks further from the head
    (discriminative learning rates). BatchNorm layers stay in inference mode
    unless ``batchnorm="train"``.

Feature cache: while the backbone is frozen, inputs are not augmented and
the backbone has no stochastic layer, the backbone's outputs are computed
once and the head trains on them (``cache_features="auto"``). The cache is
kept in memory and, with a run directory, on disk under
``RUN_DIR/feature_cache/``, or in ``feature_cache_dir=``, a folder runs can
share (a sweep's trials do), keyed by the backbone weights' hash and layer
graph, the data fingerprint and the preprocessing.

Plugging in other models (the hooks):
    * Any ``keras.Model``, a hub name, or a zero-argument function returning a
      model (needed for ``distribution``: the model is built in the strategy's scope).
    * ``task=``: a :class:`Task` (or a model attribute ``hub_task``) supplies
      the loss, the metrics and the monitored metric. The default task infers
      them from the targets and the model's outputs: class ids or one-hot
      (softmax), multi-label (multi-hot targets, sigmoid outputs), binary,
      multi-output models (a loss per output, e.g. the seed's captcha net
      with 10 binary heads) and outputs of shape ``(heads, classes)``.
    * ``optimizer=``: a name, a ``keras.optimizers.Optimizer``, or a function
      ``(model, learning_rate) -> Optimizer``. A name is first looked up among
      the optimizers the model's plugin offers (``"split"`` for wide_deep: FTRL
      on the wide part, Adam on the deep part), then among Keras'.
    * A model that overrides ``train_step``/``compute_loss`` (a perceptual
      loss) trains through the same loop: pass ``task=Task(loss=False, metrics=[])``
      or a task whose ``compile`` does what the model needs.
    * Keras callbacks run as usual; one that sets ``model.stop_training``
      (``EarlyStopping``) ends the run after that epoch.

Distribution (``distribution="auto"``): with ``TF_CONFIG`` naming several
workers a ``MultiWorkerMirroredStrategy`` is used; with several local GPUs a
``MirroredStrategy``; otherwise none. On a real cluster, start the same
command on every machine with ``TF_CONFIG`` set, e.g. on worker ``i``::

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": i}}' hub train ... --out RUN_DIR

The batch size is the global batch; worker 0 (the chief) writes the run
directory, the others write to a temporary directory.
"""

from hub_core.training.evaluate import evaluate
from hub_core.training.loop import FitResult, fine_tune, train
from hub_core.training.optim import check_optimizer
from hub_core.training.options import FitOptions
from hub_core.training.predict import predict
from hub_core.training.tasks import ExactMatch, SmoothedSparseCategoricalCrossentropy, Task, infer_loss

__all__ = ["ExactMatch", "FitOptions", "FitResult", "SmoothedSparseCategoricalCrossentropy", "Task", "check_optimizer",
           "evaluate", "fine_tune", "infer_loss", "predict", "train"]
