"""``UpdatePruningStep``: the training callback of 1xN pruning, for tf_keras and Keras 3 models alike."""

import keras

from onexn_tf.keras import flavour


class UpdatePruningStep(keras.callbacks.Callback):
    """Starts the pruning wrappers' step counters when training begins and re-masks the weights after every
    epoch, like tfmot's callback of the same name (which it runs for a tf_keras model).

    ``model.fit(x, y, callbacks=[onexn_tf.UpdatePruningStep()])``. In a custom training loop call
    ``set_model(model)`` and ``on_train_begin()`` first and ``on_epoch_end(epoch)`` after each epoch; the
    wrappers count the steps themselves, in their ``call`` with ``training=True``.

    It is a Keras 3 callback; tf_keras's ``fit`` also asks the three ``_implements_*`` methods below (tf_keras
    is pinned together with TensorFlow, so they do not move).
    """

    _supports_tf_logs = True

    def set_model(self, model):
        super().set_model(model)
        self._steps = flavour.of(model, "UpdatePruningStep needs a tf_keras or Keras 3 Model").pruning_callback()
        self._steps.set_model(model)

    def on_train_begin(self, logs=None):
        self._flavour_steps().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._flavour_steps().on_epoch_end(epoch, logs)

    def _flavour_steps(self):
        steps = getattr(self, "_steps", None)
        if steps is None:
            raise ValueError("UpdatePruningStep has no model: call set_model(model) first (Keras' fit does)")
        return steps

    def _implements_train_batch_hooks(self):
        return False

    def _implements_test_batch_hooks(self):
        return False

    def _implements_predict_batch_hooks(self):
        return False
