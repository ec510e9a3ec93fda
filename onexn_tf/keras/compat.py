"""tf_keras (Keras 2), the Keras of the tf_keras flavour: the one tfmot 0.8 supports.

``import tf_keras`` works whatever TF_USE_LEGACY_KERAS says; the variable only decides what ``tf.keras`` means.
"""

import tf_keras as keras  # noqa: F401  (re-exported: `from onexn_tf.keras.compat import keras`)
