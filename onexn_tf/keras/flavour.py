"""Which Keras a layer or model belongs to, and the module that handles that flavour.

onexn prunes models of two Keras flavours:

- tf_keras (Keras 2), the one tfmot supports: ``import tf_keras``, or ``tf.keras`` under TF_USE_LEGACY_KERAS=1.
  Handled by ``onexn_tf.keras.tf_keras_flavour`` with tfmot's pruning machinery.
- Keras 3 on the TensorFlow backend: ``import keras``, or ``tf.keras`` without that variable. Handled by
  ``onexn_tf.keras3.flavour`` with onexn's own wrapper (tfmot does not support Keras 3).

The entry points (``prune_1xn``, ``strip_1xn``, ``apply_1xn``, ``rearrange_filters``, ``sparsity_report``,
``convert``, ``UpdatePruningStep``) take the flavour from the object handed in, and import that flavour's
module only then: a Keras 3 program never loads tf_keras or tfmot (tfmot sets TF_USE_LEGACY_KERAS=1 when
it is imported, which turns an unresolved ``tf.keras`` into tf_keras).

Both flavour modules offer the same names: ``NAME``, ``keras``, ``Wrapper`` (onexn's 1xN wrapper),
``is_pruning_wrapper``, ``wrap``, ``masks``, ``strip``, ``pruning_callback``, ``is_graph_model``,
``graph_nodes``, ``graph_outputs``, ``output_shape``.
"""

import importlib
import os
import sys

TF_KERAS = "tf_keras"
KERAS3 = "Keras 3"

_MODULES = {TF_KERAS: "onexn_tf.keras.tf_keras_flavour", KERAS3: "onexn_tf.keras3.flavour"}


def name_of(obj):
    """TF_KERAS, KERAS3 or None (not a Keras layer or model), without importing either Keras: an object
    can only be an instance of a Keras that is already imported."""
    tf_keras = sys.modules.get("tf_keras")
    if tf_keras is not None and isinstance(obj, tf_keras.layers.Layer):
        return TF_KERAS
    keras3 = sys.modules.get("keras")
    if keras3 is not None and isinstance(obj, keras3.layers.Layer):
        return KERAS3
    return None


def backend_error():
    """The ValueError for Keras 3 on a backend other than TensorFlow, or None on TensorFlow."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return None
    return ValueError(
        f"Keras 3 runs on the {backend!r} backend (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}) in this program; "
        "onexn supports Keras 3 on the TensorFlow backend only: its pruning wrapper updates masks with "
        "TensorFlow ops and convert uses TensorFlow's TFLite converter. Set KERAS_BACKEND=tensorflow before "
        "importing keras, or build the model with tf_keras.")


def load(name):
    """The flavour module of TF_KERAS or KERAS3."""
    if name == KERAS3:
        error = backend_error()
        if error is not None:
            raise error
    return importlib.import_module(_MODULES[name])


def of(obj, expected):
    """The flavour module of a Keras layer or model; ValueError naming `expected` for anything else."""
    name = name_of(obj)
    if name is None:
        raise ValueError(f"{expected}, got {type(obj).__name__}")
    return load(name)


def check_layer(layer, name, wrapper):
    """ValueError unless `layer` is a layer of flavour `name`, for the constructor of that flavour's `wrapper`."""
    found = name_of(layer)
    if found != name:
        kind = f"a {found} layer" if found else f"not a Keras layer ({type(layer).__name__})"
        raise ValueError(f"{wrapper} wraps {name} layers, and {getattr(layer, 'name', layer)!r} is {kind}: "
                         "onexn_tf.prune_1xn picks the wrapper of the layer's own Keras")


def of_all(objects, expected):
    """The one flavour module of a list of Keras layers; ValueError if they mix flavours or hold non-layers."""
    names = [name_of(obj) for obj in objects]
    for obj, name in zip(objects, names):
        if name is None:
            raise ValueError(f"{expected}, got {type(obj).__name__} in the list")
    if len(set(names)) > 1:
        mixed = ", ".join(f"{getattr(obj, 'name', type(obj).__name__)!r} ({name})" for obj, name in zip(objects, names))
        raise ValueError(f"the list mixes tf_keras and Keras 3 layers ({mixed}): a model is built with one Keras, "
                         "so pass layers of one flavour")
    return load(names[0]) if names else None
