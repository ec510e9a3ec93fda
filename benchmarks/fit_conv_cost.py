#!/usr/bin/env python
"""Fits the conv cost model's coefficients (tflite_delegate/kernels/operators/conv-cost.c) to the timings
of ``bazel run //tflite_delegate:conv_cost_bench`` (one file per ISA), by non-negative least squares on relative error.

    python benchmarks/fit_conv_cost.py timings.txt

Per microkernel (the 8x16 AVX-512 kernel twice: its panels of at most 8 channels run in ymm registers), the
time of one run is modelled as
    tiles * (gather * taps * cin  +  sum over panels (fma * kept channels * taps + panel))
with tiles = ceil(pixels / MR) and the gather term only for pixel-vector kernels. Prints the coefficients
in nanoseconds and the fit's median and worst relative error. Layers under 16 pixels (classifier heads) are
left out of those fits; the kernel that serves them gets a row of its own, fitted to their timings as
ratios to the dense kernel's estimate (see conv-cost.c).
"""

import argparse
import math
import re
import statistics
from collections import defaultdict

import numpy as np
import scipy.optimize


def tile_of(kernel):
    m = re.search(r"-(\d+)x(\d+|n)-", kernel)
    return int(m.group(1)), (8 if m.group(2) == "n" else int(m.group(2)))


def features(h, w, cin, cout, k, n, kept, kernel):
    mr, nr = tile_of(kernel)
    tiles = math.ceil(h * w / mr)
    groups = math.ceil(cout / n)
    panels = groups * math.ceil(min(n, cout) / nr) if "pixelvec" in kernel else groups * math.ceil(n / nr)
    work = tiles * panels * kept * cin * k * k
    gather = tiles * k * k * cin if "pixelvec" in kernel else 0.0
    return [gather, work, tiles * panels]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("timings")
    args = p.parse_args(argv)
    rows, small = defaultdict(list), defaultdict(list)
    isa = None
    for line in open(args.timings):
        if line.startswith("# isa="):
            isa = line[len("# isa="):].split(";")[0].split()[0]
        if line.startswith("#") or not line.strip():
            continue
        h, w, cin, cout, k, n, sparsity, kernel, ms, dense_ms, kept = line.split()
        h, w, cin, cout, k, n = map(int, (h, w, cin, cout, k, n))
        if h * w < SMALL_PIXELS:
            # Fitted at 50%, where the choice against the dense kernel is close (N = 2: 1.17 of the dense
            # time, N = 4: 0.54 on an Intel Xeon); at 75% every N >= 2 wins by far, and at 90% the kept
            # weights fit in L2 across this benchmark's repeated calls, unlike in a graph.
            if kernel == SMALL_KERNEL and float(sparsity) == 0.5:
                small[kernel].append(((cin, cout, k, n, float(kept)), float(ms) / float(dense_ms)))
            continue
        key = kernel + (" (ymm panels)" if kernel.endswith("8x16-avx512f") and n <= 8 else "")
        rows[key].append((features(h, w, cin, cout, k, n, float(kept), kernel), float(ms) * 1e6))
    fitted = {}
    for key, data in sorted(rows.items()):
        x = np.array([f for f, _ in data])
        y = np.array([t for _, t in data])
        fitted[key] = fit(key, x, y)
    # Layers under a pixel-vector tile run only the small-layer kernel (conv-dispatch.c), against the dense
    # kernel, whose estimate counts their one pixel as a full tile: the small-layer kernel's row is fitted
    # to the measured ratio times that estimate, so that the model compares the two as the timings do.
    dense = DENSE_KERNEL.get(isa)
    for key, data in small.items():
        if dense not in fitted:
            continue
        g, f, p = fitted[dense]
        x, y = [], []
        for (cin, cout, k, n, kept), ratio in data:
            dense_ns = math.ceil(cout / 16) * (f * cin * k * k + p)
            x.append(features(1, 1, cin, cout, k, n, kept, key))
            y.append(ratio * dense_ns)
        fit(key + " (layers under 16 pixels)", np.array(x), np.array(y))


# Where the dispatch (conv-dispatch.c) runs layers under SMALL_PIXELS output pixels, and the dense kernel per ISA.
SMALL_PIXELS = 16
SMALL_KERNEL = "f32-spconv-8x4-avx2"
DENSE_KERNEL = {"avx512": "f32-spconv-8x16-avx512f", "avx2": "f32-spconv-4x16-avx2"}


def fit(key, x, y):
    """Non-negative least squares on relative error; prints and returns (gather, fma, panel)."""
    cols = [i for i in range(3) if x[:, i].any()]
    # Non-negative: a negative per-panel cost would make small layers' estimates negative (no model).
    coef, _ = scipy.optimize.nnls(x[:, cols] / y[:, None], np.ones_like(y))
    err = np.abs(x[:, cols] @ coef / y - 1)
    named = dict(zip([["gather", "fma", "panel"][i] for i in cols], coef))
    print(f"{key:42s} " + " ".join(f"{k}={v:.2f}" for k, v in named.items())
          + f"  (ns; {len(y)} timings, median error {statistics.median(err):.0%}, worst {err.max():.0%})")
    return tuple(named.get(name, 0.0) for name in ("gather", "fma", "panel"))


if __name__ == "__main__":
    main()
