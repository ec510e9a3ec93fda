"""MobileNetV2 with 1xN block pruning, end to end: the whole onexn user path on one model.

Builds keras.applications.MobileNetV2 (weights=None, or a weights file you pass), fine-tunes it on
scikit-learn's 8x8 digits upscaled to the input size (they ship with the wheel: nothing to download) or on
your own image directory, prunes it gradually to 1xN blocks with tfmot's PolynomialDecay while fine-tuning,
strips the wrappers, reports sparsity and MACs, converts to .tflite with onexn metadata, checks the stock
runtime against Keras and the onexn delegate against the stock runtime, and benchmarks the two side by side.
Artifacts (.tflite, the pruned Keras model, summary.json) go to --out (default runs/mobilenet_v2_1xn).

From the repository root, after scripts/setup.sh (or `pip install -e ".[dev]"`):

    .venv/bin/python examples/mobilenet_v2_1xn.py                      # 224x224, N=16, 50%: ~9 min on 2 cores
    .venv/bin/python examples/mobilenet_v2_1xn.py --n 4 --rearrange    # the paper's N, with filter rearrangement
    .venv/bin/python examples/mobilenet_v2_1xn.py --compact --threads 2 --sparsity 0.75
    .venv/bin/python examples/mobilenet_v2_1xn.py --weights mobilenet_v2.h5 --data-dir photos/ --steps 1000
    .venv/bin/python examples/mobilenet_v2_1xn.py --quick              # tiny budget: checks the whole path in a minute

MobileNetV2's FLOPs are 89% 1x1 convolutions, all prunable; depthwise convolutions have no 1xN block and the
RGB stem is kept dense (Prune1xNPolicy). Layers whose channels are not a multiple of N (24 at N=16) are
pruned with a shorter last block. The digits budget is small: read the accuracies as "the path works and
pruning costs little", not as ImageNet results. The pruned model has been fine-tuned --steps more than the
dense one, so it can come out ahead: that says the dense budget is short, not that pruning helps.
"""

import dataclasses
import sys

import _pipeline
from onexn_tf.keras.compat import keras


def build(args, num_classes):
    """MobileNetV2 for size x size RGB images and num_classes outputs, random init."""
    return keras.applications.MobileNetV2(weights=None, alpha=args.alpha, classes=num_classes,
                                          input_shape=(args.size, args.size, 3))


EXAMPLE = _pipeline.Example(
    name="mobilenet_v2_1xn",
    title="MobileNetV2",
    build=build,
    preprocess=keras.applications.mobilenet_v2.preprocess_input,
    defaults=dict(size=224, dense_steps=150, steps=150, runs=50, alpha=1.0),
    quick=dict(size=32, dense_steps=0, steps=3, runs=3, warmup=1, batch_size=8, alpha=1.0),
)


def main(argv=None):
    parser = _pipeline.make_parser(EXAMPLE, __doc__)
    parser.add_argument("--alpha", type=float, default=None,
                        help="width multiplier of MobileNetV2 (default 1.0)")
    args = _pipeline.parse_args(parser, argv)
    if args.alpha <= 0:
        parser.error(f"--alpha must be > 0, got {args.alpha}")
    title = "MobileNetV2" if args.alpha == 1.0 else f"MobileNetV2 (alpha {args.alpha:g})"
    return _pipeline.run(dataclasses.replace(EXAMPLE, title=title), args)


if __name__ == "__main__":
    main()
    sys.exit(0)
