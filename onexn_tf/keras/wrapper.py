"""The tf_keras 1xN pruning wrapper: tfmot's PruneLowMagnitude with a 1xN block mask.

Subclassing tfmot's wrapper (rather than writing a new one) is what makes tfmot's own machinery work
unchanged: ``UpdatePruningStep`` and ``PruningSummaries`` find pruned layers with
``isinstance(layer, PruneLowMagnitude)``, and the wrapper's ``call`` already applies ``weight * mask``
before the wrapped layer runs. Only the mask computation differs, so only ``Pruning._update_mask`` is
replaced, by ``tf_block_mask`` (``onexn_tf.keras.mask``, shared with the Keras 3 wrapper), with the sparsity a
tensor of the schedule.
"""

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as schedules
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from onexn_tf import blocks
from onexn_tf.keras import flavour
from onexn_tf.keras.compat import keras
from onexn_tf.keras.mask import tf_block_mask


class Pruning1xN(pruning_impl.Pruning):
    """tfmot's pruning logic with the mask chosen per 1xN block (L1 norm) instead of per weight."""

    def __init__(self, n, **kwargs):
        # block_size (1, 1): tfmot's own block code path (2-D only) must stay out of the way.
        super().__init__(block_size=(1, 1), block_pooling_type="AVG", **kwargs)
        self._n = n

    def _update_mask(self, weights):
        sparsity = self._pruning_schedule(self._step_fn())[1]
        with tf.name_scope("pruning_1xn_ops"):
            mask = tf_block_mask(weights, self._n, sparsity)
            # tfmot logs a per-layer threshold; the 1xN equivalent is the weakest kept block's L1 norm.
            threshold = tf.reduce_min(tf.where(mask > 0, tf.abs(weights), tf.reduce_max(tf.abs(weights))))
        return tf.cast(threshold, weights.dtype), mask


class PruneLowMagnitude1xN(pruning_wrapper.PruneLowMagnitude):
    """Wraps a Conv2D or Dense layer and keeps its kernel 1xN block-sparse along a pruning schedule.

    Args:
      layer: the tf_keras layer to prune (its kernel is HWIO or (cin, cout)).
      n: block width, the number of consecutive output channels that share one input channel.
      pruning_schedule: ``onexn_tf.ConstantSparsity`` / ``PolynomialDecay``, tfmot's, or any object with their
        call signature ``schedule(step) -> (should_prune, sparsity)``.
    """

    def __init__(self, layer, n=4, pruning_schedule=schedules.ConstantSparsity(0.5, 0), **kwargs):
        flavour.check_layer(layer, flavour.TF_KERAS, "onexn_tf.PruneLowMagnitude1xN")
        kwargs.pop("block_size", None)
        kwargs.pop("block_pooling_type", None)
        self.n = blocks.check_n(n)
        name = kwargs.get("name") or f"prune_1xn_{layer.name}"
        super().__init__(layer, pruning_schedule=pruning_schedule, **kwargs)
        self._name = name  # tfmot derives the name from the class name ("prune_low_magnitude1x_n_...")

    def build(self, input_shape):
        super().build(input_shape)
        # Only the kernel is pruned; tfmot's registry may also list other weights for some layers.
        self.pruning_vars = [v for v in self.pruning_vars if v[0] is self.layer.kernel]
        step = self.pruning_step
        self.pruning_obj = Pruning1xN(
            n=self.n,
            training_step_fn=lambda: step,
            pruning_vars=self.pruning_vars,
            pruning_schedule=self.pruning_schedule,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("block_size", None)
        config.pop("block_pooling_type", None)
        config["n"] = self.n
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        schedule = config.pop("pruning_schedule")
        config["pruning_schedule"] = keras.utils.deserialize_keras_object(
            schedule, module_objects=vars(schedules),
            custom_objects={"ConstantSparsity": schedules.ConstantSparsity,
                            "PolynomialDecay": schedules.PolynomialDecay})
        config["layer"] = keras.layers.deserialize(config.pop("layer"))
        return cls(**config)

    def masked_kernel(self):
        """The kernel with the current mask applied, as numpy."""
        (weight, mask, _), = self.pruning_vars
        return weight.numpy() * mask.numpy()
