"""onexn_tf: 1xN block pruning for Keras (tf_keras) and TensorFlow Lite.

tfmot 0.8 only works with Keras 2 (`tf_keras`). Importing onexn_tf sets ``TF_USE_LEGACY_KERAS=1`` when the
variable is unset, exactly as tfmot does on import, so that ``tf.keras`` means ``tf_keras`` for the rest of
the program. A value you set yourself is respected; build your models with ``tf_keras`` either way.
Set it (or import onexn_tf) before importing TensorFlow: once ``tf.keras`` has resolved to Keras 3 it stays so.

Public names are loaded lazily so that ``import onexn_tf`` and the ``onexn`` command start fast.
"""

import importlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

_EXPORTS = {
    # Keras side
    "prune_1xn": "prune",
    "strip_1xn": "prune",
    "apply_1xn": "prune",
    "prune_scope": "prune",
    "Prune1xNPolicy": "policy",
    "PruneLowMagnitude1xN": "wrapper",
    "block_mask": "blocks",
    "block_scores": "blocks",
    "rearrange_filters": "rearrange",
    "RearrangeReport": "rearrange",
    "sparsity_report": "report",
    # Converter
    "convert": "convert",
    "read_metadata": "metadata",
    "MetadataError": "metadata",
    # Delegate
    "delegate_path": "delegate",
    "load_delegate": "delegate",
    "delegate_report": "delegate",
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
