#!/usr/bin/env python
"""Fits the conv cost model's coefficients (tflite_delegate/kernels/operators/conv-cost.c) to the timings
of ``bazel run //tflite_delegate:conv_cost_bench`` (one file per ISA), by least squares on relative error.

    python benchmarks/fit_conv_cost.py timings.txt

Per microkernel (the 8x16 AVX-512 kernel twice: its panels of at most 8 channels run in ymm registers), the
time of one run is modelled as
    tiles * (gather * taps * cin  +  sum over panels (fma * kept channels * taps + panel))
with tiles = ceil(pixels / MR) and the gather term only for pixel-vector kernels. Prints the coefficients
in nanoseconds and the fit's median and worst relative error.
"""

import argparse
import math
import re
import statistics
from collections import defaultdict

import numpy as np


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
    rows = defaultdict(list)
    for line in open(args.timings):
        if line.startswith("#") or not line.strip():
            continue
        h, w, cin, cout, k, n, sparsity, kernel, ms, dense_ms, kept = line.split()
        h, w, cin, cout, k, n = map(int, (h, w, cin, cout, k, n))
        key = kernel + (" (ymm panels)" if kernel.endswith("8x16-avx512f") and n <= 8 else "")
        rows[key].append((features(h, w, cin, cout, k, n, float(kept), kernel), float(ms) * 1e6))
    for key, data in sorted(rows.items()):
        x = np.array([f for f, _ in data])
        y = np.array([t for _, t in data])
        cols = [i for i in range(3) if x[:, i].any()]
        coef, *_ = np.linalg.lstsq(x[:, cols] / y[:, None], np.ones_like(y), rcond=None)
        err = np.abs(x[:, cols] @ coef / y - 1)
        named = dict(zip([["gather", "fma", "panel"][i] for i in cols], coef))
        print(f"{key:42s} " + " ".join(f"{k}={v:.2f}" for k, v in named.items())
              + f"  (ns; {len(data)} timings, median error {statistics.median(err):.0%}, worst {err.max():.0%})")


if __name__ == "__main__":
    main()
