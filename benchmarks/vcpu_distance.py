#!/usr/bin/env python
"""How far apart two vCPUs sit on the host: a cache line's round trip between two processes pinned to them.

    python benchmarks/vcpu_distance.py [--trips 20000]

On the shared Zen 4 machines of this project the hypervisor places the two vCPUs either on cores that share
an L3 or on cores of different dies, and moves them between the two from minute to minute. Two threads
that pass data between them (a layer's output read by the other core) pay for the second placement, and
the stock runtime and onexn differently (benchmarks/analysis.md, twenty-sixth session). run.py records the
round trip beside each measurement of the speedup from 1 to 2 threads, so that a pass can be read with the
placement it ran on.

The two sides are Python loops over one byte of a shared mapping, so the figure is the transfer plus the
loops' own time: on Zen 4 about 260 ns near (a C loop: 53-80 ns) and 470-530 ns far (C: 325-370 ns). It
moves with the placement, not with a runtime.
"""

import argparse
import mmap
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _echo(path, cpu, trips):
    """The other side: answers each odd value with the next even one."""
    os.sched_setaffinity(0, {cpu})
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), mmap.PAGESIZE) as mm:
        mm[1] = 1  # ready
        for i in range(trips):
            want = (2 * i + 1) & 0xFF
            while mm[0] != want:
                pass
            mm[0] = (2 * i + 2) & 0xFF


def _once(cpus, trips, timeout_s):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "line")
        with open(path, "wb") as f:
            f.write(bytes(mmap.PAGESIZE))
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), mmap.PAGESIZE) as mm:
            child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--echo", path, str(cpus[1]),
                                      str(trips)])
            elapsed = None
            try:
                elapsed = _timed_trips(mm, child, trips, time.monotonic() + timeout_s)
            finally:
                if elapsed is None:  # the child died or hangs: do not wait for it
                    child.kill()
                child.wait()
            return elapsed / trips if elapsed is not None and child.returncode == 0 else None


def _timed_trips(mm, child, trips, deadline):
    """ns for `trips` round trips with the echoing child, or None if it died or the deadline passed."""
    while mm[1] != 1:  # the child's start-up is not timed
        if child.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.001)
    start = time.perf_counter_ns()
    for i in range(trips):
        mm[0] = (2 * i + 1) & 0xFF
        want = (2 * i + 2) & 0xFF
        spins = 0
        while mm[0] != want:
            spins += 1
            if spins % 1000000 == 0 and (child.poll() is not None or time.monotonic() > deadline):
                return None
    return time.perf_counter_ns() - start


def round_trip_ns(trips=20000, repeats=3, timeout_s=10.0):
    """Median round trip (ns) between the first two CPUs this process may run on, over `repeats`
    measurements; None with fewer than two CPUs or where affinity cannot be set (not Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpus[0]})
        values = [_once(cpus, trips, timeout_s) for _ in range(repeats)]
    finally:
        os.sched_setaffinity(0, before)
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trips", type=int, default=20000)
    p.add_argument("--echo", nargs=3, metavar=("PATH", "CPU", "TRIPS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.echo:
        _echo(args.echo[0], int(args.echo[1]), int(args.echo[2]))
        return 0
    ns = round_trip_ns(args.trips)
    print("fewer than two CPUs to pin to" if ns is None else f"round trip {ns:.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
