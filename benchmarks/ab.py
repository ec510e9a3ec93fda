#!/usr/bin/env python
"""A/B of two builds of the delegate library on the same models, in one process.

For each model and each library: stock vs that library, interleaved (as ``onexn bench``); and the two
libraries against each other, interleaved. Prints the medians and ratios. Use it to tell whether a change
to the delegate moves a ratio: the two builds see the same machine at the same moment, which two sweeps
minutes apart do not.

    python benchmarks/ab.py --libs OLD.so NEW.so model1.tflite [model2.tflite ...] [--threads 1] [--runs 40]
    python benchmarks/ab.py --libs OLD.so NEW.so --options fuse=0 ...   (the same options for both builds)
    python benchmarks/ab.py --libs OLD.so NEW.so --threads 2 --turn 10 model.tflite   (turns of 10 invokes)

B / A is the geometric mean of two measurements, one with A's interpreter made first and one with B's: of
two interpreters of the same build made one after the other in one process, the second ran 0.4-1.3%
slower (MobileNetV2 at 2 threads, Zen 4), which one order alone would count for or against B.
"""

import argparse
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import delegate_options  # noqa: E402
from onexn_tf.runtime import bench  # noqa: E402
from onexn_tf.tflite import graph  # noqa: E402


def _build_with(options):
    """A ``measure`` build function: an onexn variant loads the library its options name (not the installed
    one) with `options`."""

    def build(variant, threads):
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        delegates = None
        if variant.delegate:
            strings = {k: str(v) for k, v in dict(options, num_threads=threads).items()}
            delegates = [load_delegate(variant.options["library"], strings)]
        interpreter = Interpreter(model_content=variant.tflite, num_threads=threads, experimental_delegates=delegates)
        interpreter.allocate_tensors()
        return interpreter, None

    return build


def compare(model, libraries, *, threads, runs, warmup, options, turn=1):
    """{"stock/<lib>": ratio, ..., "B/A": ratio} and the medians, for one model."""
    data = graph.as_bytes(model)
    out = {}
    variants = {name: bench.Variant(name, data, True, {"library": path}) for name, path in libraries.items()}
    stock = bench.Variant("stock", data)
    for name, variant in variants.items():
        m = bench.measure([stock, variant], threads=threads, runs=runs, warmup=warmup, build=_build_with(options),
                          turn=turn)
        out[f"{name} / stock"] = m.timings[name].median_ms / m.timings["stock"].median_ms
        out[f"stock ms ({name} pair)"] = m.timings["stock"].median_ms
    a, b = list(variants)
    ratios, ms = [], {a: [], b: []}
    for first, second in ((a, b), (b, a)):  # each build's interpreter made first once
        m = bench.measure([variants[first], variants[second]], threads=threads, runs=runs, warmup=warmup,
                          build=_build_with(options), turn=turn)
        ratios.append(m.timings[b].median_ms / m.timings[a].median_ms)
        for name in (a, b):
            ms[name].append(m.timings[name].median_ms)
    out[f"{b} / {a}"] = math.sqrt(ratios[0] * ratios[1])
    out[f"{b} / {a} ({a} made first)"], out[f"{b} / {a} ({b} made first)"] = ratios
    out[f"{a} ms"], out[f"{b} ms"] = statistics.median(ms[a]), statistics.median(ms[b])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--libs", nargs=2, required=True, metavar=("A.so", "B.so"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--turn", type=int, default=1,
                   help="invokes per variant's turn, the first untimed above 1 (bench.measure's turn; default 1: "
                        "interleaved invoke by invoke)")
    p.add_argument("--passes", type=int, default=1, help="repeat everything; the median over passes is printed too")
    p.add_argument("--options", nargs="*", default=[], help="delegate options key=value, for both builds")
    args = p.parse_args(argv)
    options = delegate_options.parse(p, args.options, "--options")
    libraries = {"A": args.libs[0], "B": args.libs[1]}
    print(f"A = {args.libs[0]}\nB = {args.libs[1]}\nthreads {args.threads}, {args.runs} runs per variant and pair, "
          f"turns of {args.turn}")
    for model in args.models:
        passes = [compare(model, libraries, threads=args.threads, runs=args.runs, warmup=args.warmup, options=options,
                          turn=args.turn)
                  for _ in range(args.passes)]
        keys = passes[0].keys()
        summary = "  ".join(f"{k} {statistics.median(p[k] for p in passes):.3f}" for k in keys if "/" in k)
        print(f"{model}: {summary}", flush=True)
        if args.passes > 1:
            for k in (k for k in keys if "/" in k):
                print(f"    {k}: " + " ".join(f"{p[k]:.3f}" for p in passes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
