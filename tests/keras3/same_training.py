"""One gradual 1xN pruning run and one conversion, written once for both Keras flavours, so that
test_flavours_agree.py can compare Keras 3 (in the test process) with tf_keras (in a subprocess running
this file) given the same weights, data order and schedule.

    python tests/keras3/same_training.py IN.npz OUT.npz   # the tf_keras side; IN from save_inputs()

The tf_keras side trains twice: with onexn's schedule and callback, and with tfmot's (what existing tfmot
code passes), and converts the Keras 3 side's stripped weights.
"""

import os
import sys

import numpy as np

from k3models import data, small_model

N = 4
STEPS_PER_EPOCH, EPOCHS, BATCH = 8, 3, 8
PRUNED = ("conv3x3", "conv1x1", "head")


def schedule_args():
    """PolynomialDecay 0 -> 75% over the first two epochs, a mask update every 2 steps."""
    return dict(initial_sparsity=0.0, final_sparsity=0.75, begin_step=0, end_step=16, frequency=2)


def train(keras, onexn_tf, weights, schedule, callback):
    """Prunes small_model with `weights` along `schedule`; returns the wrapped model after fit."""
    model = small_model(keras)
    for name, values in weights.items():
        model.get_layer(name).set_weights(values)
    pruned = onexn_tf.prune_1xn(model, n=N, pruning_schedule=schedule)
    pruned.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x, y = data(STEPS_PER_EPOCH * BATCH, seed=7)
    pruned.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[callback])
    return pruned


def masks_and_kernels(pruned):
    """{layer name: mask}, {layer name: kernel} of the wrapped layers (numpy)."""
    wrappers = {layer.layer.name: layer for layer in pruned.layers if hasattr(layer, "masked_kernel")}
    masks = {}
    for name, wrapper in wrappers.items():
        mask = wrapper.mask if hasattr(wrapper, "mask") else wrapper.pruning_vars[0][1]
        masks[name] = np.asarray(mask.numpy())
    return masks, {name: w.layer.kernel.numpy() for name, w in wrappers.items()}


def layer_weights(model):
    return {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}


def save_inputs(path, weights, stripped_weights):
    flat = {f"w|{name}|{i}": v for name, values in weights.items() for i, v in enumerate(values)}
    flat.update({f"s|{name}|{i}": v for name, values in stripped_weights.items() for i, v in enumerate(values)})
    np.savez(path, **flat)


def load_inputs(path):
    out = {"w": {}, "s": {}}
    with np.load(path) as archive:
        for key in sorted(archive.files, key=lambda k: (k.split("|")[1], int(k.split("|")[2]))):
            kind, name, _ = key.split("|")
            out[kind].setdefault(name, []).append(archive[key])
    return out["w"], out["s"]


def tf_keras_side(inputs, output):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    import onexn_tf

    weights, stripped_weights = load_inputs(inputs)
    results = {}
    runs = {"onexn": (onexn_tf.PolynomialDecay(**schedule_args()), onexn_tf.UpdatePruningStep()),
            "tfmot": (tfmot.sparsity.keras.PolynomialDecay(**schedule_args()), tfmot.sparsity.keras.UpdatePruningStep())}
    for run, (schedule, callback) in runs.items():
        masks, kernels = masks_and_kernels(train(keras, onexn_tf, weights, schedule, callback))
        results.update({f"{run}|mask|{k}": v for k, v in masks.items()})
        results.update({f"{run}|kernel|{k}": v for k, v in kernels.items()})
    stripped = small_model(keras)
    for name, values in stripped_weights.items():
        stripped.get_layer(name).set_weights(values)
    results["tflite"] = np.frombuffer(onexn_tf.convert(stripped), np.uint8)
    results["expected"] = stripped(data(4, seed=9)[0]).numpy()
    np.savez(output, **results)


if __name__ == "__main__":
    tf_keras_side(*sys.argv[1:3])
