"""Keras 3 quickstart: 1xN-prune a Keras 3 model while it trains, convert it, run it with the onexn delegate.

Nothing here imports tf_keras or tfmot: ``import keras`` is Keras 3 (TensorFlow backend), and onexn_tf takes
its models as they are. The data is scikit-learn's 8x8 digits (it ships with the wheel), upscaled.

    python examples/keras3_quickstart.py                           # a few minutes on 2 cores
    python examples/keras3_quickstart.py --n 8 --sparsity 0.75     # other block width and sparsity
    python examples/keras3_quickstart.py --quick                   # a few steps: checks the path
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ info lines out of the output

import keras  # noqa: E402
import numpy as np  # noqa: E402

import onexn_tf  # noqa: E402
from onexn_tf import datasets  # noqa: E402
from onexn_tf.runtime import bench  # noqa: E402

SIZE = 32


def build_model(num_classes):
    """A small MobileNetV2-like network: a dense stem, inverted-residual blocks (1x1 expand, 3x3 depthwise,
    1x1 project, residual Add), global pooling and a classifier. Channel counts are multiples of 16."""
    layers = keras.layers

    def block(x, expand, out, name):
        y = layers.Conv2D(expand, 1, use_bias=False, name=f"{name}_expand")(x)
        y = layers.ReLU(6.0)(layers.BatchNormalization(momentum=0.9, name=f"{name}_expand_bn")(y))
        y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(y)
        y = layers.ReLU(6.0)(layers.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(y))
        y = layers.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(y)
        y = layers.BatchNormalization(momentum=0.9, name=f"{name}_project_bn")(y)
        return layers.Add(name=f"{name}_add")([x, y]) if x.shape[-1] == out else y

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", name="stem")(x)  # 3 input channels: kept dense
    x = block(x, 64, 32, "block1")
    x = block(x, 128, 32, "block2")
    x = block(x, 128, 64, "block3")
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="classifier")(x), name="digits_net")


def train(model, data, steps, lr, callbacks=()):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(data.train, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0, callbacks=list(callbacks))


def accuracy(model, data):
    return float(model.evaluate(data.test, verbose=0)[1])


def tflite_accuracy(tflite, data, delegate):
    interpreter = bench.make_interpreter(tflite, delegate=delegate)
    correct = total = 0
    for images, labels in data.test.unbatch().batch(1):
        bench.set_inputs(interpreter, images.numpy())
        interpreter.invoke()
        correct += int(np.argmax(bench.first_output(interpreter)) == int(labels[0]))
        total += 1
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16, help="block width N (default 16)")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final block sparsity (default 0.5)")
    parser.add_argument("--dense-steps", type=int, default=300, help="dense training steps first (default 300)")
    parser.add_argument("--steps", type=int, default=300, help="training steps while pruning (default 300)")
    parser.add_argument("--out", default="runs/keras3_quickstart", help="output directory")
    parser.add_argument("--quick", action="store_true", help="30 + 30 steps: checks the whole path quickly")
    args = parser.parse_args(argv)
    if args.quick:
        args.dense_steps, args.steps = 30, 30
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    keras.utils.set_random_seed(0)

    data = datasets.digits(SIZE, 32)
    model = build_model(data.num_classes)
    train(model, data, args.dense_steps, 2e-3)
    dense_accuracy = accuracy(model, data)
    print(f"[1/5] dense model trained {args.dense_steps} steps: test accuracy {dense_accuracy:.3f}")

    # Sparsity rises from 0 to the target over the first 2/3 of the steps, masks updated 10 times on the way.
    ramp = 2 * args.steps // 3
    schedule = onexn_tf.PolynomialDecay(0.0, args.sparsity, begin_step=0, end_step=ramp, frequency=max(1, ramp // 10))
    pruned = onexn_tf.prune_1xn(model, n=args.n, pruning_schedule=schedule)
    train(pruned, data, args.steps, 1e-3, callbacks=[onexn_tf.UpdatePruningStep()])
    pruned.save(os.path.join(args.out, "pruned.keras"))  # keras.models.load_model reads it back (import onexn_tf.keras3)
    final = onexn_tf.strip_1xn(pruned)
    pruned_accuracy = accuracy(final, data)
    print(f"[2/5] pruned 1x{args.n} to {args.sparsity:.0%} while training {args.steps} steps: "
          f"test accuracy {pruned_accuracy:.3f}")
    print(onexn_tf.sparsity_report(final))

    tflite = onexn_tf.convert(final)
    path = os.path.join(args.out, "digits_1xn.tflite")
    with open(path, "wb") as f:
        f.write(tflite)
    records = onexn_tf.read_metadata(tflite)
    print(f"[3/5] converted: {path} ({len(tflite):,} bytes), {len(records)} layers described as 1x{args.n}")

    report = onexn_tf.delegate_report(tflite)
    images = next(iter(data.test))[0].numpy()[:4]
    keras_out = np.asarray(final(images))
    diffs = []
    for i, image in enumerate(images):
        stock = bench.run_once(tflite, image[None], delegate=False)
        onexn = bench.run_once(tflite, image[None], delegate=True)
        diffs.append((float(np.abs(stock - keras_out[i]).max()), float(np.abs(onexn - stock).max())))
    print(f"[4/5] onexn delegate: {report['claimed']} 1xN nodes claimed, {len(report['glue_nodes'])} glue nodes, "
          f"{report['partitions']} partition(s); max |stock - Keras| {max(d[0] for d in diffs):.1e}, "
          f"max |onexn - stock| {max(d[1] for d in diffs):.1e}")

    delegated_accuracy = tflite_accuracy(tflite, data, delegate=True)
    print(f"[5/5] test accuracy of the .tflite with the onexn delegate: {delegated_accuracy:.3f} "
          f"(Keras {pruned_accuracy:.3f}); time it against the stock runtime with `onexn bench {path}`. "
          f"Done in {time.time() - started:.0f} s.")
    return {"tflite": path, "records": records, "report": report, "dense_accuracy": dense_accuracy,
            "pruned_accuracy": pruned_accuracy, "delegated_accuracy": delegated_accuracy, "diffs": diffs}


if __name__ == "__main__":
    main()
