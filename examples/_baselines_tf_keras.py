"""The accuracy study's baselines for tf_keras: unstructured pruning is tfmot's own ``prune_low_magnitude``,
filter pruning a tfmot ``Pruning`` subclass (so tfmot's callback and strip_pruning work unchanged)."""

import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl, pruning_wrapper

from onexn_tf.keras.compat import keras  # noqa: F401  (the study's Keras in this flavour)

from _masks import filter_mask

NAME = "tf_keras"
VERSIONS = f"tf_keras {keras.__version__}, tfmot {tfmot.__version__}"
UNSTRUCTURED = "unstructured is tfmot's `prune_low_magnitude`"


class FilterPruning(pruning_impl.Pruning):
    """tfmot's pruning logic, with the mask zeroing whole output channels (filters) of lowest L1 norm."""

    def __init__(self, **kwargs):
        super().__init__(block_size=(1, 1), block_pooling_type="AVG", **kwargs)

    def _update_mask(self, weights):
        mask, scores, keep = filter_mask(weights, self._pruning_schedule(self._step_fn())[1])
        threshold = tf.reduce_min(tf.where(keep, scores, tf.reduce_max(scores)))
        return tf.cast(threshold, weights.dtype), mask


class PruneLowMagnitudeFilters(pruning_wrapper.PruneLowMagnitude):
    """tfmot's wrapper with ``FilterPruning``: UpdatePruningStep and strip_pruning work unchanged."""

    def build(self, input_shape):
        super().build(input_shape)
        self.pruning_vars = [v for v in self.pruning_vars if v[0] is self.layer.kernel]
        step = self.pruning_step
        self.pruning_obj = FilterPruning(training_step_fn=lambda: step, pruning_vars=self.pruning_vars,
                                         pruning_schedule=self.pruning_schedule)


def unstructured(layer, schedule):
    return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)


def filters(layer, schedule):
    return PruneLowMagnitudeFilters(layer, pruning_schedule=schedule)


def is_wrapper(layer):
    return isinstance(layer, pruning_wrapper.PruneLowMagnitude)
