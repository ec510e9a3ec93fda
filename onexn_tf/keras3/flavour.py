"""The Keras 3 flavour (TensorFlow backend): the names ``onexn_tf.keras.flavour`` promises, for Keras 3 models."""

import keras

from onexn_tf.keras3.wrapper import PruneLowMagnitude1xN as Wrapper
from onexn_tf.keras3.wrapper import PruningSteps

NAME = "Keras 3"


def is_pruning_wrapper(layer):
    return isinstance(layer, Wrapper)


def wrap(layer, n, schedule, **kwargs):
    return Wrapper(layer, n=n, pruning_schedule=schedule, **kwargs)


def masks(wrapper):
    """[(kernel variable, mask variable)] of a built pruning wrapper."""
    return [(wrapper.layer.kernel, wrapper.mask)]


def strip(model):
    """A model of the same structure with every wrapper replaced by the layer it wraps (whose kernel the
    caller has masked); like tfmot's strip_pruning, the other layers are shared with `model`."""
    def unwrap(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=unwrap)
        return layer.layer if isinstance(layer, Wrapper) else layer

    return keras.models.clone_model(model, clone_function=unwrap)


def pruning_callback():
    return PruningSteps()


def is_graph_model(model):
    """Sequential or functional (a layer graph onexn can follow), not subclassed."""
    return isinstance(model, (keras.Sequential, keras.src.models.Functional))


def has_graph(model):
    """True for a functional model and a built Sequential: their layer graph can be followed."""
    return isinstance(model, keras.src.models.Functional) or getattr(model, "_functional", None) is not None


def graph_nodes(model):
    """(layer, input tensors, output tensors, input ids, output ids) of every call in a built Sequential or
    functional model, inputs first."""
    functional = model if isinstance(model, keras.src.models.Functional) else model._functional
    for depth in sorted(functional._nodes_by_depth, reverse=True):
        for node in functional._nodes_by_depth[depth]:
            yield (node.operation, node.input_tensors, node.output_tensors,
                   [id(t) for t in node.input_tensors], [id(t) for t in node.output_tensors])


def graph_outputs(model):
    """(tensor id, layer) of every model output, the ids ``graph_nodes`` uses."""
    return [(id(tensor), tensor._keras_history.operation) for tensor in model.outputs]


def output_shape(layer):
    """The layer's output shape in the model graph (its first call), or None if it has not been called there."""
    try:
        return layer.output.shape
    except (AttributeError, ValueError):
        return None
