"""The tf_keras flavour (Keras 2 + tfmot): the names ``onexn_tf.keras.flavour`` promises, for tf_keras models.

Imported only when a tf_keras object is handed to onexn, because importing tfmot sets TF_USE_LEGACY_KERAS=1.
"""

import tensorflow as tf

try:
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper
except ImportError as e:
    raise ImportError(f"onexn's tf_keras flavour needs tfmot ({e}): pip install onexn[train]") from e

from onexn_tf.keras import policy, schedules
from onexn_tf.keras.compat import keras
from onexn_tf.keras.wrapper import PruneLowMagnitude1xN as Wrapper

NAME = "tf_keras"

# tfmot's base classes are abcs: registered, onexn's policy and schedules pass tfmot's isinstance checks.
policy.register_with_tfmot()
tfmot.sparsity.keras.PruningSchedule.register(schedules.PruningSchedule)


def is_pruning_wrapper(layer):
    """onexn's wrapper or any other tfmot pruning wrapper (strip removes them all)."""
    return isinstance(layer, pruning_wrapper.PruneLowMagnitude)


def wrap(layer, n, schedule, **kwargs):
    return Wrapper(layer, n=n, pruning_schedule=schedule, **kwargs)


def masks(wrapper):
    """[(weight variable, mask variable)] of a built pruning wrapper."""
    return [(weight, mask) for weight, mask, _ in wrapper.pruning_vars]


def strip(model):
    return tfmot.sparsity.keras.strip_pruning(model)


def pruning_callback():
    """Sets the step counters at the start of training and re-masks the weights after every epoch."""
    return tfmot.sparsity.keras.UpdatePruningStep()


def is_graph_model(model):
    """Sequential or functional (a layer graph onexn can follow), not subclassed."""
    return isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)


def has_graph(model):
    """True for a functional model and a built Sequential: their layer graph can be followed."""
    return bool(getattr(model, "_is_graph_network", False))


def graph_nodes(model):
    """(layer, input tensors, output tensors, input ids, output ids) of every call in a built Sequential or
    functional model, inputs first."""
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            yield (node.layer, node.keras_inputs, tf.nest.flatten(node.outputs),
                   node.flat_input_ids, node.flat_output_ids)


def graph_outputs(model):
    """(tensor id, layer) of every model output, the ids ``graph_nodes`` uses."""
    return [(str(id(tensor)), tensor._keras_history.layer) for tensor in model.outputs]


def output_shape(layer):
    shape = layer.output_shape
    return shape[0] if isinstance(shape, list) else shape
