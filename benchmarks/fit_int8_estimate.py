#!/usr/bin/env python
"""Fits the int8 estimates of tflite_delegate/src/node_quant.cc (SlowerThanAmx: onexn's int8 1xN layers
against XNNPACK's dense int8 on AMX tiles) to per-operator timings of int8 models, as they were fitted by hand
on an Intel Xeon with AMX (seventh session). On such a CPU, with --amx, it fits onexn's AMX kernel instead of
the VNNI ones: the step before letting the delegate take layers onto the tiles by default.

    python benchmarks/fit_int8_estimate.py runs/bench_cache/*/1x16-s50-int8.tflite ... [--amx] [--runs 20]

Every int8 CONV_2D / FULLY_CONNECTED with a record is timed alone (``onexn bench --per-op``'s method, the
delegate with dense="never" so that it takes every one), stock and onexn. Per output pixel the model is
    stock  a0 + a1 * cout + a2 * dense multiply-adds
    onexn  b0 + b1 * cout + b2 * kept multiply-adds + b3 * cin * taps (the gather)
fitted by non-negative least squares on relative error. Prints both coefficient sets in node_quant.cc's
units (nanoseconds per pixel), the fits' median and worst relative error, and what taking each layer under
0.9 of the stock estimate would give against the layers' measured times.
"""

import argparse
import statistics
import sys

import numpy as np
import scipy.optimize

TAKE_UNDER = 0.9  # node_quant.cc: a node is taken where onexn's estimate is under this share of XNNPACK's


def layer_rows(tflite, runs=20, amx=False):
    """(features, stock_ns_per_pixel, onexn_ns_per_pixel, pixels) of every recorded int8 layer of a model."""
    from onexn_tf import read_metadata
    from onexn_tf.runtime import profile
    from onexn_tf.tflite import graph

    options = {"dense": "never", **({"amx": 1} if amx else {})}
    timed = profile.per_op(tflite, runs=runs, **options)
    model = graph.read_model(tflite)
    tensors = model.subgraphs[0].tensors
    operators = model.subgraphs[0].operators
    records = {r.operator: r for r in read_metadata(tflite) if r.subgraph == 0 and r.weight_type == 9}
    rows = []
    for op in timed.rows:
        record = records.get(op.node)
        if record is None or op.onexn_ms is None:
            continue
        shape = [int(d) for d in tensors[operators[op.node].outputs[0]].shape]
        pixels = int(np.prod(shape[1:-1])) if len(shape) == 4 else int(np.prod(shape[:-1]))
        rows.append((features(record.cout, record.cin, record.kh * record.kw, record.n, record.num_kept),
                     op.stock_ms * 1e6 / pixels, op.onexn_ms * 1e6 / pixels, pixels))
    return rows


def features(cout, cin, taps, n, num_kept):
    """Per output pixel: the stock model's (1, cout, dense multiply-adds) and onexn's (1, cout, kept multiply-adds,
    cin * taps), as node_quant.cc computes them (kept pairs of group and input channel times n and taps)."""
    return {"stock": [1.0, float(cout), float(cout) * cin * taps],
            "onexn": [1.0, float(cout), float(num_kept) * n * taps, float(cin) * taps]}


def fit(x, y):
    """Non-negative coefficients minimizing the relative error sum(((x @ c) / y - 1) ** 2); the relative errors."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    coefficients, _ = scipy.optimize.nnls(x / y[:, None], np.ones(len(y)))
    return coefficients, (x @ coefficients) / y - 1.0


def summary(rows):
    """The report: both fits and the choice they make, as lines."""
    stock_c, stock_err = fit([r[0]["stock"] for r in rows], [r[1] for r in rows])
    onexn_c, onexn_err = fit([r[0]["onexn"] for r in rows], [r[2] for r in rows])
    lines = [f"{len(rows)} layers"]
    for name, c, err, labels in (("stock", stock_c, stock_err, ("", "a channel out", "a multiply-add")),
                                 ("onexn", onexn_c, onexn_err,
                                  ("", "a channel out", "a kept multiply-add", "a channel in per tap"))):
        terms = " + ".join(f"{v:.4g}" + (f" {label}" if label else "") for v, label in zip(c, labels))
        lines.append(f"{name}: {terms} (ns a pixel); relative error median {statistics.median(abs(err)):.0%}, "
                     f"worst {max(abs(err)):.0%}")
    stock_ms = np.array([r[1] * r[3] for r in rows]) * 1e-6
    onexn_ms = np.array([r[2] * r[3] for r in rows]) * 1e-6
    taken = np.array([np.dot(r[0]["onexn"], onexn_c) < TAKE_UNDER * np.dot(r[0]["stock"], stock_c) for r in rows])
    chosen = np.where(taken, onexn_ms, stock_ms).sum() / stock_ms.sum()
    best = np.minimum(onexn_ms, stock_ms).sum() / stock_ms.sum()
    slower = int((taken & (onexn_ms > stock_ms)).sum())
    lines.append(f"taken under {TAKE_UNDER} of the stock estimate: {int(taken.sum())} of {len(rows)} layers "
                 f"({slower} of them slower than stock); the layers' time {chosen:.3f} of stock's, the faster side "
                 f"of each {best:.3f}")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="int8 .tflite files with onexn records")
    p.add_argument("--runs", type=int, default=20, help="timed runs per operator and side (default 20)")
    p.add_argument("--amx", action="store_true", help="the delegate's amx=1 (a CPU with AMX-INT8)")
    args = p.parse_args(argv)
    rows = []
    for path in args.models:
        with open(path, "rb") as f:
            rows += layer_rows(f.read(), runs=args.runs, amx=args.amx)
    if len(rows) < 7:
        print(f"fit_int8_estimate: {len(rows)} int8 layers with records; at least 7 are needed", file=sys.stderr)
        return 1
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
