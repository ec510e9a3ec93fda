#!/usr/bin/env python
"""Where two threads lose, step by step: one model's delegate steps timed at 1 and at 2 threads in one process.

    python benchmarks/thread_profile.py MODEL.tflite [--turns 20] [--turn 50] [--option kernel=avx2 ...]

Makes a 1-thread and a 2-thread interpreter with the onexn delegate (ONEXN_PROFILE on, default options
unless given), runs them in turns of TURN invokes (the first of each turn untimed) and prints, per step of
the 2-thread run: its time at 2 threads, the time of the 1-thread steps it covers (a chain of blocks runs
as one step at 2 threads), the speedup, the time lost against a perfect halving and how far apart the two
threads finished its work (the pool's timing: what uneven shares cost; the rest of the loss is slower
work, such as reading what the other core wrote); then each block of a
chain, the two sides (one walking the image down, the other up) side by side: rows, time computing them,
time waiting for rows of the block before that the other side had not written. The delegate prints its
profile when an interpreter is freed; this script reads it from its own stderr.
"""

import argparse
import contextlib
import gc
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import delegate_options  # noqa: E402

STEP = re.compile(r"onexn profile: node\s+(\d+) (\S+)\s+(\S+)\s+([\d.]+) ms(?:, ends\s+([\d.]+) ms apart)?(.*)$")
SIDES = re.compile(
    r"onexn profile:\s+block\s+(\d+) \(nodes (\d+)-(\d+),\s*(\d+) rows\): from the top\s+([\d.]+) rows\s+([\d.]+) ms, "
    r"waited\s+([\d.]+) ms; from the bottom\s+([\d.]+) rows\s+([\d.]+) ms, waited\s+([\d.]+) ms")


def parse_profile(text):
    """(steps, chain blocks) of one interpreter's profile: steps as (node, op, kernel, ms, note, apart_ms) in
    order (apart_ms: how far apart the threads finished the step, 0 at one thread),
    blocks as dicts (block, first, last, rows, top/bottom rows, ms, wait_ms)."""
    steps, blocks = [], []
    for line in text.splitlines():
        m = SIDES.match(line)
        if m:
            v = m.groups()
            blocks.append({"block": int(v[0]), "first": int(v[1]), "last": int(v[2]), "rows": int(v[3]),
                           "top": {"rows": float(v[4]), "ms": float(v[5]), "wait_ms": float(v[6])},
                           "bottom": {"rows": float(v[7]), "ms": float(v[8]), "wait_ms": float(v[9])}})
            continue
        m = STEP.match(line)
        if m:
            apart = float(m.group(5)) if m.group(5) is not None else 0.0
            steps.append((int(m.group(1)), m.group(2), m.group(3), float(m.group(4)), m.group(6).strip(), apart))
    return steps, blocks


def join(one, two):
    """Per 2-thread step: (step, 1-thread ms of the steps it covers). A 1-thread step belongs to the 2-thread
    step of the largest node not above its own (both run the partition's nodes in order)."""
    starts = sorted(s[0] for s in two)
    covered = {s[0]: 0.0 for s in two}
    for node, _, _, ms, _, _ in one:
        owner = max((n for n in starts if n <= node), default=None)
        if owner is not None:
            covered[owner] += ms
    return [(s, covered[s[0]]) for s in two]


@contextlib.contextmanager
def stderr_to(path):
    """The process's fd 2 (what the delegate's C code writes) goes to path."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def measure(tflite, *, turns, turn, options):
    """Medians of the invokes at 1 and 2 threads, and each interpreter's parsed profile."""
    os.environ["ONEXN_PROFILE"] = "1"  # read once, by the first delegate the process loads
    from ai_edge_litert.interpreter import Interpreter

    from onexn_tf.runtime import bench
    from onexn_tf.runtime.delegate import load_delegate

    def make(threads):
        delegate = load_delegate(**dict(options, num_threads=threads))
        interpreter = Interpreter(model_content=tflite, num_threads=threads, experimental_delegates=[delegate])
        interpreter.allocate_tensors()
        bench.set_inputs(interpreter, bench.random_inputs(interpreter))
        return [interpreter, delegate]

    def run_turn(threads):
        interpreter = interpreters[threads][0]
        interpreter.invoke()  # untimed: the other interpreter's turn left the caches and threads cold
        for _ in range(turn):
            start = time.perf_counter()
            interpreter.invoke()
            runs[threads].append(1e3 * (time.perf_counter() - start))

    runs = {1: [], 2: []}
    interpreters = {threads: make(threads) for threads in (1, 2)}  # the only references to them
    for _ in range(turns):
        for threads in (1, 2):
            run_turn(threads)
    profiles = {}
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (1, 2):
            path = os.path.join(tmp, f"{threads}.txt")
            with stderr_to(path):
                pair = interpreters.pop(threads)
                del pair[0]  # the interpreter, then its delegate: the partition prints its profile
                del pair
                gc.collect()
            with open(path) as f:
                profiles[threads] = parse_profile(f.read())
    return {t: statistics.median(v) for t, v in runs.items()}, profiles


def report(medians, profiles):
    """The text the script prints."""
    (one, _), (two, blocks) = profiles[1], profiles[2]
    if not one or not two:
        return "the delegate printed no profile (no node claimed, or ONEXN_PROFILE was read before this ran)\n"
    lines = [f"{'1T ms':>8} {'2T ms':>8} {'speedup':>8} {'lost ms':>8} {'apart ms':>8}  step at 2 threads "
             "(lost: 2T ms - 1T ms / 2; apart: the threads' ends)"]

    def row(ms1, ms2, apart, what):
        ends = f"{apart:8.3f}" if apart is not None else f"{'':8}"
        return f"{ms1:8.3f} {ms2:8.3f} {ms1 / ms2 if ms2 else 0:8.2f} {ms2 - ms1 / 2:8.3f} {ends}  {what}"

    joined = join(one, two)
    starts_one = {s[0] for s in one}
    for (node, op, kernel, ms2, note, apart), ms1 in joined:
        mark = "" if node in starts_one else " *"
        lines.append(row(ms1, ms2, apart, f"node {node} {op} {kernel}" + (f" {note}" if note else "") + mark))
    lines.append(row(sum(ms1 for _, ms1 in joined), sum(step[3] for step, _ in joined),
                     sum(step[5] for step, _ in joined), "the steps"))
    lines.append(row(medians[1], medians[2], None, "invokes (median, timed in Python)"))
    if any(step[0] not in starts_one for step, _ in joined):
        lines.append("* no 1-thread step starts at this node: the two thread counts fused other nodes together, and the "
                     "1-thread step holding it counts in a row above (the 1T column of both compares unlike work)")
    if blocks:
        lines.append("")
        lines.append("chain blocks at 2 threads, per run: 1T ms / 2 against each side's ms computing (+ waiting)")
        for b in blocks:
            half = sum(ms for node, _, _, ms, _, _ in one if b["first"] <= node <= b["last"]) / 2
            t, u = b["top"], b["bottom"]
            lines.append(f"block {b['block']:2d} nodes {b['first']:3d}-{b['last']:<3d} {b['rows']:3d} rows: 1T/2 {half:7.3f}"
                         f" | top {t['rows']:5.1f} rows {t['ms']:7.3f} (+{t['wait_ms']:.3f})"
                         f" | bottom {u['rows']:5.1f} rows {u['ms']:7.3f} (+{u['wait_ms']:.3f})")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help=".tflite file (from onexn_tf.convert)")
    p.add_argument("--turns", type=int, default=20, help="turns of each thread count (default 20)")
    p.add_argument("--turn", type=int, default=50, help="timed invokes per turn (default 50)")
    delegate_options.add_argument(p)
    args = p.parse_args(argv)
    if args.turns < 1 or args.turn < 1:
        p.error("--turns and --turn must be at least 1")
    options = delegate_options.parse(p, args.option)
    with open(args.model, "rb") as f:
        tflite = f.read()
    medians, profiles = measure(tflite, turns=args.turns, turn=args.turn, options=options)
    sys.stdout.write(report(medians, profiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
