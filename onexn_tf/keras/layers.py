"""The layers of a model that 1xN pruning looks at, and their kernels (both Keras flavours)."""

import numpy as np

from onexn_tf.keras import flavour


def leaf_layers(model):
    """All non-model layers of a model in order, nested models flattened."""
    model_class = flavour.of(model, "expected a Keras model").keras.Model
    out = []
    for layer in model.layers:
        out.extend(leaf_layers(layer) if isinstance(layer, model_class) else [layer])
    return out


def layer_kernel(layer):
    """The kernel of a plain or wrapped Conv2D/Dense layer as numpy (masked if wrapped by onexn), else None."""
    keras_flavour = flavour.of(layer, "expected a Keras layer")
    if isinstance(layer, keras_flavour.Wrapper) and layer.built:
        return layer.masked_kernel()
    inner = layer.layer if keras_flavour.is_pruning_wrapper(layer) else layer
    kernel = getattr(inner, "kernel", None)
    if kernel is None or not isinstance(inner, (keras_flavour.keras.layers.Conv2D, keras_flavour.keras.layers.Dense)):
        return None
    return np.asarray(kernel.numpy())
