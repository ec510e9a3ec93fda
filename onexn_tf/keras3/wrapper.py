"""The Keras 3 1xN pruning wrapper, without tfmot: tfmot's training semantics, written for Keras 3.

Per training batch, in ``call`` (as tfmot 0.8's wrapper does, so that tf_keras and Keras 3 train the same
way and choose the same blocks): the step counter goes up by one; on the schedule's pruning steps the mask
is recomputed from the kernel (``tf_block_mask``, the op the tf_keras wrapper uses); the kernel variable is
multiplied by the mask; then the wrapped layer runs on it. Gradients reach every kernel weight, pruned
ones included, and the next call masks them again, exactly as in tfmot. Outside training only the masking
runs, so inference always sees the masked kernel.

The mask and the step are non-trainable weights of the wrapper, so ``model.save("x.keras")`` keeps them and
training resumes where it stopped. The class is registered with Keras (``onexn>PruneLowMagnitude1xN``):
``keras.models.load_model`` needs no custom scope once ``onexn_tf.keras3`` is imported.
"""

import keras
import tensorflow as tf

from onexn_tf import blocks
from onexn_tf.keras import flavour, schedules
from onexn_tf.keras.layers import leaf_layers
from onexn_tf.keras.mask import tf_block_mask

_NO_CALLBACK = ("the 1xN pruning wrapper needs the onexn_tf.UpdatePruningStep callback during training: "
                "model.fit(..., callbacks=[onexn_tf.UpdatePruningStep()])")


@keras.saving.register_keras_serializable(package="onexn")
class PruneLowMagnitude1xN(keras.layers.Wrapper):
    """Wraps a Keras 3 Conv2D or Dense layer and keeps its kernel 1xN block-sparse along a pruning schedule.

    Args:
      layer: the Keras 3 layer to prune (its kernel is HWIO or (cin, cout)).
      n: block width, the number of consecutive output channels that share one input channel.
      pruning_schedule: ``onexn_tf.ConstantSparsity`` / ``PolynomialDecay`` (default ``ConstantSparsity(0.5,
        0)``), tfmot's, or any object called as ``schedule(step) -> (should_prune, sparsity)``.
    """

    def __init__(self, layer, n=4, pruning_schedule=None, **kwargs):
        flavour.check_layer(layer, flavour.KERAS3, "onexn_tf.keras3.PruneLowMagnitude1xN")
        self.n = blocks.check_n(n)
        kwargs.setdefault("name", f"prune_1xn_{layer.name}")
        super().__init__(layer, **kwargs)
        self.pruning_schedule = schedules.check(
            schedules.ConstantSparsity(0.5, 0) if pruning_schedule is None else pruning_schedule)

    def build(self, input_shape=None):
        super().build(input_shape)
        kernel = self.layer.kernel
        self.mask = self.add_weight(name="mask", shape=kernel.shape, dtype=kernel.dtype, initializer="ones",
                                    trainable=False)
        # -1 until UpdatePruningStep starts training; tfmot counts the same way.
        self.pruning_step = self.add_weight(name="pruning_step", shape=(), dtype="int64",
                                            initializer=keras.initializers.Constant(-1), trainable=False)

    def call(self, inputs, training=False):
        kernel = self.layer.kernel
        if training:
            self.pruning_step.assign_add(1)
            step = tf.convert_to_tensor(self.pruning_step)
            tf.debugging.assert_greater_equal(step, tf.constant(1, tf.int64), message=_NO_CALLBACK)
            should_prune, sparsity = self.pruning_schedule(step)
            tf.cond(tf.convert_to_tensor(should_prune), lambda: self._update_mask(kernel, sparsity), lambda: None)
        kernel.assign(kernel * self.mask)
        return self.layer(inputs)

    def _update_mask(self, kernel, sparsity):
        self.mask.assign(self.pruning_mask(kernel, sparsity))

    def pruning_mask(self, kernel, sparsity):
        """The new mask of `kernel` at `sparsity` (a scalar tensor), as TensorFlow ops: the 1xN block mask.

        A subclass may return another pattern; the rest of the wrapper (schedule, step, masking, stripping)
        stays as it is. The accuracy study's unstructured and filter baselines do that."""
        return tf_block_mask(kernel, self.n, sparsity)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def masked_kernel(self):
        """The kernel with the current mask applied, as numpy."""
        return self.layer.kernel.numpy() * self.mask.numpy()

    def get_config(self):
        config = super().get_config()
        if not callable(getattr(self.pruning_schedule, "get_config", None)):
            raise ValueError(f"pruning_schedule {self.pruning_schedule!r} has no get_config, so the model cannot "
                             "be saved; use onexn_tf.ConstantSparsity / PolynomialDecay or give it get_config")
        return {**config, "n": self.n, "pruning_schedule": self.pruning_schedule.get_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["pruning_schedule"] = schedules.from_config(
            config["pruning_schedule"], lambda name: keras.saving.get_registered_object(name, custom_objects))
        return super().from_config(config, custom_objects=custom_objects)


class PruningSteps:
    """What ``onexn_tf.UpdatePruningStep`` does for a Keras 3 model: starts the step counters at 0 when training
    begins (a restored model keeps its count) and re-masks the kernels after every epoch, so that a model
    saved or stripped then holds exactly the masked weights."""

    def set_model(self, model):
        self.wrappers = [layer for layer in leaf_layers(model) if isinstance(layer, PruneLowMagnitude1xN)]

    def on_train_begin(self, logs=None):
        if self.wrappers and int(self.wrappers[0].pruning_step.numpy()) == -1:
            for wrapper in self.wrappers:
                wrapper.pruning_step.assign(0)

    def on_epoch_end(self, epoch, logs=None):
        for wrapper in self.wrappers:
            kernel = wrapper.layer.kernel
            kernel.assign(kernel * wrapper.mask)
