"""Writes the fuzzers' seed corpus: real ``onexn_1xn`` entries taken from models the onexn converter made.

Small tf_keras models are pruned 1xN by hand (``onexn_tf.blocks.block_mask``), converted with
``onexn_tf.convert`` (plain and ``compact=True``, format version 1, and full integer quantization, version 2
with int8 records), and the metadata entry of each .tflite is written as one seed file. Further ``.tflite`` files (for example a converted MobileNetV2) can be added with
``--tflite``. Output is deterministic for a given TensorFlow version.

    python tflite_delegate/fuzz/make_seed_corpus.py [--out DIR] [--tflite MODEL.tflite ...]

The default output is ``tflite_delegate/fuzz/seed_corpus`` (committed, a few KB).
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "seed_corpus"
MAX_SEED_BYTES = 16 * 1024  # larger entries slow every fuzz iteration down without adding coverage


def _prune(model, plan):
    """Zeroes 1xN blocks in place: plan = {layer name: (n, block sparsity)}."""
    from onexn_tf import blocks

    for name, (n, sparsity) in plan.items():
        layer = model.get_layer(name)
        weights = layer.get_weights()
        weights[0] = weights[0] * blocks.block_mask(weights[0], n, sparsity)
        layer.set_weights(weights)


def _convnet(keras):
    """3x3 SAME, 1x1 + BatchNorm, 3x3 stride 2 VALID, 1x1 with cout % n != 0, two Dense: n in 1..16."""
    inputs = keras.Input((9, 9, 8))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(24, 1, use_bias=False, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="valid", activation="relu6", name="c3")(x)
    x = keras.layers.Conv2D(12, 1, name="c4")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(20, activation="relu", name="d1")(x)
    outputs = keras.layers.Dense(10, use_bias=False, name="d2")(x)
    plan = {"c1": (16, 0.5), "c2": (8, 0.6), "c3": (4, 0.7), "c4": (8, 0.5), "d1": (2, 0.6), "d2": (1, 0.5)}
    return keras.Model(inputs, outputs), plan


def _wide(keras):
    """Wide blocks (n = 64 and 32) and a 5x5 dilated conv."""
    inputs = keras.Input((8, 8, 6))
    x = keras.layers.Conv2D(64, 1, name="w1")(inputs)
    x = keras.layers.Conv2D(32, 5, dilation_rate=2, padding="same", name="w2")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs), {"w1": (64, 0.5), "w2": (32, 0.4)}


def _mlp(keras):
    """FULLY_CONNECTED only, cout not a multiple of n, very sparse and nearly dense layers."""
    inputs = keras.Input((40,))
    x = keras.layers.Dense(36, activation="relu", name="f1")(inputs)
    x = keras.layers.Dense(30, name="f2")(x)
    outputs = keras.layers.Dense(5, name="f3")(x)
    return keras.Model(inputs, outputs), {"f1": (4, 0.9), "f2": (8, 0.1), "f3": (2, 0.5)}


MODELS = {"convnet": _convnet, "wide": _wide, "mlp": _mlp}


def entry_of(tflite):
    """The onexn_1xn entry bytes of a .tflite model, or None."""
    from onexn_tf.tflite import graph, verify

    return verify.entry_bytes(graph.read_model(tflite))


def _int8(model):
    """The model converted with full integer quantization (int8 I/O) and a small representative dataset."""
    import tensorflow as tf

    from onexn_tf import convert

    def dataset():
        rng = np.random.default_rng(0)
        for _ in range(8):
            yield [rng.normal(size=(1,) + tuple(model.input_shape[1:])).astype("f4")]

    return convert(model, representative_dataset=dataset, optimizations=[tf.lite.Optimize.DEFAULT],
                   target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                   inference_input_type=tf.int8, inference_output_type=tf.int8)


def generated_entries():
    """{seed name: entry bytes} of the built-in models: plain, compact and int8."""
    from onexn_tf import convert
    from onexn_tf.keras.compat import keras

    entries = {}
    for name, build in MODELS.items():
        keras.utils.set_random_seed(0)
        model, plan = build(keras)
        if any(layer.name == "bn" for layer in model.layers):  # non-trivial statistics to fold
            rng = np.random.default_rng(0)
            bn = model.get_layer("bn")
            c = bn.get_weights()[0].size
            bn.set_weights([rng.uniform(0.5, 1.5, c).astype("f4"), rng.normal(size=c).astype("f4"),
                            rng.normal(size=c).astype("f4"), rng.uniform(0.5, 1.5, c).astype("f4")])
        _prune(model, plan)
        for variant, compact in (("plain", False), ("compact", True)):
            entries[f"{name}-{variant}"] = entry_of(convert(model, compact=compact))
        entries[f"{name}-int8"] = entry_of(_int8(model))
    return entries


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--tflite", type=Path, nargs="*", default=[], help="more converted .tflite models")
    args = parser.parse_args(argv)

    entries = generated_entries()
    for path in args.tflite:
        entries[path.stem] = entry_of(path.read_bytes())
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, data in sorted(entries.items()):
        if data is None:
            print(f"{name}: no onexn_1xn entry, skipped", file=sys.stderr)
            continue
        if len(data) > MAX_SEED_BYTES:
            print(f"{name}: entry is {len(data)} bytes (> {MAX_SEED_BYTES}), skipped", file=sys.stderr)
            continue
        (args.out / f"{name}.onexn_1xn").write_bytes(data)
        total += len(data)
        print(f"{name}.onexn_1xn: {len(data)} bytes")
    print(f"{args.out}: {total} bytes")


if __name__ == "__main__":
    main()
