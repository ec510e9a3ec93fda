"""The Keras side of onexn: 1xN pruning (prune, strip, one-shot apply, schedules, the step callback), filter
rearrangement and the sparsity report, for tf_keras (Keras 2, with tfmot) and Keras 3 (TensorFlow backend).

The modules here work on both flavours; what differs lives in the flavour modules (``flavour`` says which
one a model is): ``tf_keras_flavour`` with ``compat`` and ``wrapper`` (tfmot's wrapper with the 1xN mask) for
tf_keras, ``onexn_tf.keras3`` for Keras 3. Nothing here imports tf_keras or tfmot until a tf_keras object is
handed in. Needs the `train` extra (TensorFlow; tf_keras and tfmot for the tf_keras flavour).
"""

try:
    import tensorflow  # noqa: F401  (does not decide what tf.keras means: that happens on first use)
except ImportError as e:
    raise ImportError(f"the Keras side of onexn needs TensorFlow ({e}): pip install onexn[train]") from e
