"""onexn's Keras 3 flavour: 1xN pruning of Keras 3 models on the TensorFlow backend, without tfmot.

The public entry points (``onexn_tf.prune_1xn`` and the others) come here for Keras 3 objects by themselves;
import this package yourself to load a model saved with pruning wrappers: it registers the wrapper with
Keras, so ``keras.models.load_model("pruned.keras")`` needs no custom scope.
"""

from onexn_tf.keras import flavour

_backend_error = flavour.backend_error()
if _backend_error is not None:
    raise ImportError(str(_backend_error))

from onexn_tf.keras3.wrapper import PruneLowMagnitude1xN  # noqa: E402  (registers it with Keras)

__all__ = ["PruneLowMagnitude1xN"]
