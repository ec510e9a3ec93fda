"""The Keras that onexn works with: tf_keras (Keras 2), the one tfmot 0.8 supports.

``onexn_tf`` sets TF_USE_LEGACY_KERAS=1 on import, before this module imports tf_keras.
"""

import tf_keras as keras  # noqa: F401  (re-exported: `from onexn_tf.keras.compat import keras`)


def is_keras3_object(obj):
    """True for layers/models of Keras 3 (`import keras` / tf.keras without TF_USE_LEGACY_KERAS)."""
    module = type(obj).__module__ or ""
    return module == "keras" or module.startswith("keras.")


def check_is_tf_keras(obj, what="object"):
    """Raises a ValueError that says how to fix it when a Keras 3 object is passed in."""
    if is_keras3_object(obj):
        raise ValueError(
            f"{what} {getattr(obj, 'name', type(obj).__name__)!r} is a Keras 3 object ({type(obj).__module__}). "
            "onexn (like tfmot) needs tf_keras: build the model with `import tf_keras as keras`, or set "
            "TF_USE_LEGACY_KERAS=1 (importing onexn_tf first does it) before importing TensorFlow.")
