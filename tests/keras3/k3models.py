"""Small Keras 3 models and data shared by the Keras 3 tests (the builders take the Keras module, so
same_training.py builds the same models in tf_keras too)."""

import numpy as np


def small_model(keras, seed=0, cout_last=16):
    """A stem, a 3x3 conv + BatchNorm + ReLU, a depthwise conv, a 1x1 conv, global pooling and a Dense head;
    Prune1xNPolicy(4) wraps conv3x3, conv1x1 and head."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inp)
    x = keras.layers.Conv2D(32, 3, padding="same", name="conv3x3")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Conv2D(cout_last, 1, name="conv1x1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(8, name="head")(x)
    return keras.Model(inp, out)


def data(count=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, 8, 8, 3), np.float32), rng.random((count, 8), np.float32)
