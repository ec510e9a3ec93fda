"""ResNet with 1xN block pruning, end to end: the same user path as mobilenet_v2_1xn.py, on 3x3 convolutions.

Builds keras.applications.ResNet50 (weights=None, or a weights file you pass) at the resolution you choose
(--size), or with --arch small a small ResNet defined below (basic blocks of two 3x3 convolutions; what
--quick uses). Then, as in mobilenet_v2_1xn.py: fine-tune on scikit-learn's digits upscaled (ships with the
wheel) or your image directory, prune gradually to 1xN blocks (PolynomialDecay), strip, report, convert to
.tflite with onexn metadata, check against Keras and the stock runtime, benchmark with and without the onexn
delegate. Artifacts go to --out (default runs/resnet_1xn).

From the repository root, after scripts/setup.sh (or `pip install -e ".[dev]"`):

    .venv/bin/python examples/resnet_1xn.py                            # ResNet50 128x128, N=16, 50%: ~10 min, 2 cores
    .venv/bin/python examples/resnet_1xn.py --size 224 --threads 2     # the ImageNet resolution (slower)
    .venv/bin/python examples/resnet_1xn.py --arch small --size 64 --sparsity 0.75 --compact
    .venv/bin/python examples/resnet_1xn.py --weights resnet50.h5 --data-dir photos/ --steps 1000
    .venv/bin/python examples/resnet_1xn.py --quick                    # small ResNet, tiny budget: about 15 s

In ResNet50 about half the MACs are 3x3 convolutions and half 1x1; onexn prunes both (a 1xN block spans the
whole 3x3 window). The 7x7 RGB stem stays dense and the 10-class head has fewer than N outputs, so both are
left alone (Prune1xNPolicy says why). Read the accuracies as in mobilenet_v2_1xn.py: a small budget, and the
pruned model has had --steps more fine-tuning than the dense one.
"""

import dataclasses
import sys

import _pipeline
from onexn_tf.keras.compat import keras

layers = keras.layers


def basic_block(x, filters, stride, name):
    """Two 3x3 convolutions with BatchNorm, and a 1x1 projection shortcut when the shape changes."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def small_resnet(input_shape, num_classes, widths=(32, 64)):
    """A ResNet of basic blocks (one per stage, stride 2 from the second stage on), for quick runs."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(widths):
        x = basic_block(x, filters, 1 if stage == 0 else 2, name=f"stage{stage + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_resnet")


def build(args, num_classes):
    """ResNet50 or the small ResNet for size x size RGB images and num_classes outputs, random init."""
    shape = (args.size, args.size, 3)
    if args.arch == "small":
        return small_resnet(shape, num_classes)
    return keras.applications.ResNet50(weights=None, classes=num_classes, input_shape=shape)


EXAMPLE = _pipeline.Example(
    name="resnet_1xn",
    title="ResNet",
    build=build,
    preprocess=keras.applications.resnet50.preprocess_input,
    defaults=dict(arch="resnet50", size=128, dense_steps=100, steps=100, runs=30),
    quick=dict(arch="small", size=32, dense_steps=2, steps=3, runs=3, warmup=1, batch_size=8),
)


def main(argv=None):
    parser = _pipeline.make_parser(EXAMPLE, __doc__)
    parser.add_argument("--arch", choices=("resnet50", "small"), default=None,
                        help="keras.applications.ResNet50, or the small ResNet of this file "
                             "(default resnet50, --quick small)")
    args = _pipeline.parse_args(parser, argv)
    title = "ResNet50" if args.arch == "resnet50" else "small ResNet (basic blocks)"
    return _pipeline.run(dataclasses.replace(EXAMPLE, title=title), args)


if __name__ == "__main__":
    main()
    sys.exit(0)
