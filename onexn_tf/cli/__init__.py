"""The ``onexn`` command. Each subcommand lives in onexn_tf/cli/<name>.py and provides
``add_arguments(parser)`` and ``run(args) -> int``; only ``demo`` needs TensorFlow."""

import argparse
import importlib

# name -> one-line help; the module onexn_tf.cli.<name> implements it.
COMMANDS = {
    "demo": "prune -> strip -> convert -> benchmark a built-in example model, end to end",
    "inspect": "per-layer 1xN table of a .tflite file and whether its metadata matches the weights",
    "bench": "latency of the onexn delegate vs the stock runtime, side by side in one run",
}


def build_parser():
    parser = argparse.ArgumentParser(prog="onexn", description="1xN block pruning for Keras and TFLite")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"{__name__}.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args._run(args)
