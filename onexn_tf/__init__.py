"""onexn_tf: 1xN block pruning for Keras (tf_keras) and TensorFlow Lite.

tfmot 0.8 only works with Keras 2 (`tf_keras`). Importing onexn_tf sets ``TF_USE_LEGACY_KERAS=1`` when the
variable is unset, exactly as tfmot does on import, so that ``tf.keras`` means ``tf_keras`` for the rest of
the program. A value you set yourself is respected; build your models with ``tf_keras`` either way.
Set it (or import onexn_tf) before importing TensorFlow: once ``tf.keras`` has resolved to Keras 3 it stays so.

Public names are loaded lazily so that ``import onexn_tf`` and the ``onexn`` command start fast, and so
that the runtime names (``load_delegate``, ``delegate_report``, ``read_metadata``) work with only numpy and
ai-edge-litert installed; the Keras names and ``convert`` need the ``train`` extra (TensorFlow, tf_keras,
tfmot).

Layout, in the order of the data path: ``onexn_tf.keras`` (pruning), ``onexn_tf.blocks`` (the 1xN block
geometry every side shares), ``onexn_tf.tflite`` (conversion, the metadata format, model access),
``onexn_tf.runtime`` (the delegate, benchmark, per-operator profile), ``onexn_tf.cli`` (the ``onexn``
command).
"""

import importlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

_EXPORTS = {
    # Keras side (needs the `train` extra)
    "prune_1xn": "keras.prune",
    "strip_1xn": "keras.prune",
    "apply_1xn": "keras.prune",
    "prune_scope": "keras.prune",
    "Prune1xNPolicy": "keras.policy",
    "PruneLowMagnitude1xN": "keras.wrapper",
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
