"""The layers of a model that 1xN pruning looks at, and their kernels."""

import numpy as np
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from onexn_tf.keras.compat import keras
from onexn_tf.keras.wrapper import PruneLowMagnitude1xN


def leaf_layers(model):
    """All non-model layers of a model in order, nested models flattened."""
    out = []
    for layer in model.layers:
        out.extend(leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def layer_kernel(layer):
    """The kernel of a plain or wrapped Conv2D/Dense layer as numpy (masked if wrapped), else None."""
    if isinstance(layer, PruneLowMagnitude1xN) and layer.built:
        return layer.masked_kernel()
    inner = layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer
    kernel = getattr(inner, "kernel", None)
    if kernel is None or not isinstance(inner, (keras.layers.Conv2D, keras.layers.Dense)):
        return None
    return np.asarray(kernel.numpy())
