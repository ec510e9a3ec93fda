"""The Keras side of onexn: 1xN pruning of tf_keras models with tfmot (prune, strip, one-shot apply,
filter rearrangement, sparsity report). Needs the `train` extra: TensorFlow, tf_keras and tfmot."""

try:
    import tensorflow  # noqa: F401
    import tensorflow_model_optimization  # noqa: F401
    import tf_keras  # noqa: F401
except ImportError as e:
    raise ImportError(f"the Keras side of onexn needs TensorFlow, tf_keras and tfmot ({e}): "
                      "pip install onexn[train]") from e
