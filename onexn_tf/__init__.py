"""onexn_tf: 1xN block pruning for Keras (Keras 3 and tf_keras) and TensorFlow Lite.

The Keras functions take the flavour from the model or layer handed in: Keras 3 (``import keras``, or
``tf.keras`` without TF_USE_LEGACY_KERAS; TensorFlow backend) with onexn's own wrapper, or tf_keras (Keras 2,
``import tf_keras``) with tfmot's pruning machinery. Importing onexn_tf changes nothing in the environment:
it does not set TF_USE_LEGACY_KERAS, and tf_keras and tfmot are imported only when a tf_keras object is
handed in (tfmot itself sets TF_USE_LEGACY_KERAS=1 when it is imported). So a Keras 3 program stays Keras 3
whatever the order of its imports.

Public names are loaded lazily so that ``import onexn_tf`` and the ``onexn`` command start fast, and so
that the runtime names (``load_delegate``, ``delegate_report``, ``read_metadata``) work with only numpy and
ai-edge-litert installed; the Keras names and ``convert`` need the ``train`` extra (TensorFlow; tf_keras and
tfmot for tf_keras models).

Layout, in the order of the data path: ``onexn_tf.keras`` (pruning, both flavours; ``onexn_tf.keras3``
holds what is Keras 3's own), ``onexn_tf.blocks`` (the 1xN block geometry every side shares), ``onexn_tf.tflite`` (conversion, the metadata format, model access),
``onexn_tf.runtime`` (the delegate, benchmark, per-operator profile), ``onexn_tf.cli`` (the ``onexn``
command).
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # Keras side (needs the `train` extra)
    "prune_1xn": "keras.prune",
    "strip_1xn": "keras.prune",
    "apply_1xn": "keras.prune",
    "prune_scope": "keras.prune",
    "Prune1xNPolicy": "keras.policy",
    "PruneLowMagnitude1xN": "keras.wrapper",  # the tf_keras one; Keras 3's: onexn_tf.keras3.PruneLowMagnitude1xN
    "ConstantSparsity": "keras.schedules",
    "PolynomialDecay": "keras.schedules",
    "PruningSchedule": "keras.schedules",
    "UpdatePruningStep": "keras.callbacks",
    "rearrange_filters": "keras.rearrange",
    "RearrangeReport": "keras.rearrange",
    "sparsity_report": "keras.report",
    # Block geometry
    "block_mask": "blocks",
    "block_scores": "blocks",
    # Converter (convert needs the `train` extra) and the metadata it writes
    "convert": "tflite.convert",
    "read_metadata": "tflite.verify",
    "MetadataError": "tflite.metadata",
    # Delegate
    "delegate_path": "runtime.delegate",
    "load_delegate": "runtime.delegate",
    "delegate_report": "runtime.delegate",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'onexn_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
