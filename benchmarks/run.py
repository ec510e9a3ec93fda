#!/usr/bin/env python
"""The onexn benchmark sweep (issue 5): stock XNNPACK dense vs compact encoding vs the onexn delegate.

Models, as a user gets them: MobileNetV1, MobileNetV2 (1.0/224) and ResNet-50 from keras.applications with
random weights (weights=None, the 1000-class softmax head), pruned one-shot with onexn_tf.apply_1xn(model, n,
sparsity) (the default policy) and converted with onexn_tf.convert (N detected); N in {1, 2, 4, 8, 16}, block
sparsity in {0.5, 0.75, 0.9}, 1 and 2 threads; MobileNetV2 N=16 and N=4 at 50%, 1 thread, once more with
trained-like zeros (benchmarks/models.py, trained_like); plus MobileNetV2's distinct 1x1 convolutions as
single-conv models.
For each: the stock runtime on the file with dense weights, the stock runtime on the compact file
(onexn_tf.convert(..., compact=True): TFLite's own block-sparse encoding + DENSIFY), and the onexn delegate
on the dense-weight file; interleaved in one measurement (onexn_tf.runtime.bench.measure).

Writes BENCHMARKS.md and benchmarks/ratio_vs_sparsity.png for the full sweep; a subset (--models, --n,
--sparsity, --threads, --quick, ...) writes to runs/bench/ instead so it never overwrites the committed
report. Converted models are cached under runs/bench_cache/ (git ignores runs/). Raw results go to
runs/bench/results.json; --from-json re-renders the report from such a file without measuring. Each case
reports two medians: over every timed pass (what a user sees; the targets use it) and over the passes the
stock runtime ran undisturbed in.

    python benchmarks/run.py                 # the full sweep: about 15 min from an empty cache (2 cores)
    python benchmarks/run.py --quick         # MobileNetV2, N 4 and 16, 50% and 75%, 1 thread
    python benchmarks/run.py --models resnet50 --n 16 --sparsity 0.5 --threads 1
    python benchmarks/run.py --int8 --models mobilenet_v2,resnet50 --n 16 --sparsity 0.5 --threads 1
                                             # + issue 17's int8 target cases (--int8 grid: every case selected)
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import onexn_tf  # noqa: E402
from benchmarks import models as bench_models, report as bench_report, vcpu_distance  # noqa: E402
from onexn_tf.runtime import bench, profile  # noqa: E402
from onexn_tf.tflite import graph  # noqa: E402

FULL = {"models": "mobilenet_v1,mobilenet_v2,resnet50", "n": "1,2,4,8,16", "sparsity": "0.5,0.75,0.9",
        "threads": "1,2"}
QUICK = {"models": "mobilenet_v2", "n": "4,16", "sparsity": "0.5,0.75", "threads": "1"}
FULL_OUT = (os.path.join(ROOT, "BENCHMARKS.md"), os.path.join(ROOT, "benchmarks", "ratio_vs_sparsity.png"))
SUBSET_OUT = (os.path.join(ROOT, "runs", "bench", "BENCHMARKS.md"),
              os.path.join(ROOT, "runs", "bench", "ratio_vs_sparsity.png"))
# (model, n, sparsity, threads) measured again with trained-like zeros when the sweep's lists hold them: one
# thread is enough to see whether N survives (the records and kernels do not depend on threads).
TRAINED_LIKE = [("mobilenet_v2", 16, 0.5, 1), ("mobilenet_v2", 4, 0.5, 1)]
# (model, n, sparsity, threads) measured again with invokes PERIODIC_MS apart when the sweep holds them: an
# application that runs the model periodically leaves the runtimes' worker threads idle in between, and
# on this project's virtual machines a thread that slept takes milliseconds to run again.
PERIODIC = [("mobilenet_v2", 16, 0.5, 2)]
PERIODIC_MS = (5.0, 30.0)
# (model, n, sparsity) whose 1- and 2-thread times are measured again in turns of SCALING_TURN invokes per
# runtime and thread count (the first untimed) when the sweep holds them at 1 and 2 threads: each runtime's
# speedup as a program running only it sees it, beside the interleaved cases' (see bench.measure's turn).
SCALING = [("mobilenet_v2", 16, 0.5), ("mobilenet_v2", 4, 0.5), ("resnet50", 16, 0.5)]  # N=4: the paper's setting
SCALING_TURN = 10


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help=f"comma-separated, from {sorted(bench_models.ARCHITECTURES)} (default all)")
    p.add_argument("--n", help="block widths, comma-separated (default 1,2,4,8,16)")
    p.add_argument("--sparsity", help="block sparsities, comma-separated (default 0.5,0.75,0.9)")
    p.add_argument("--threads", help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--quick", action="store_true",
                   help=f"a short check: models {QUICK['models']}, N {QUICK['n']}, sparsity {QUICK['sparsity']}, "
                        f"threads {QUICK['threads']}, fewer runs (options given explicitly still win)")
    p.add_argument("--no-layers", action="store_true", help="skip the MobileNetV2 single 1x1 conv sweep")
    p.add_argument("--int8", nargs="?", const="targets", choices=("targets", "grid"),
                   help="also int8 cases: the model pruned with the default policy and fully int8-quantized (int8 "
                        "I/O), stock (XNNPACK's int8 kernels, dense) against onexn on the same file, interleaved, "
                        "once in each pass after its float cases (conversion: 30-90 s per case, cached). 'targets' (the default): issue 17's "
                        "target cases among the models selected; 'grid': every model, N, sparsity and thread "
                        "count selected")
    p.add_argument("--no-profile", action="store_true", help="skip the per-op profiles of the target cases")
    p.add_argument("--runs", type=int, help="timed runs per variant and pass, whole models (default 20, quick 15)")
    p.add_argument("--warmup", type=int, help="warm-up runs per variant, whole models (default 5, quick 3)")
    p.add_argument("--layer-runs", type=int, help="timed runs per variant, single convs (default 50, quick 25)")
    p.add_argument("--max-other-cpu", type=float, default=0.05,
                   help="measure a case again when other processes used more than this share of the machine's "
                        "CPU meanwhile (default 0.05; Linux /proc)")
    p.add_argument("--retries", type=int, default=2, help="re-measurements of a noisy case (default 2)")
    p.add_argument("--max-wait", type=float, default=120, help="seconds to wait for quiet before a retry")
    p.add_argument("--passes", type=int, help="passes over the whole-model cases; each case's result is the median "
                   "over passes (default 3, quick 1): noise that lasts seconds then hits one pass, not the result")
    p.add_argument("--kernel", default="auto", help="onexn kernel family (default auto)")
    p.add_argument("--amx", action="store_true",
                   help="the delegate's amx=1: int8 layers of 16-channel blocks on AMX tiles (a CPU with AMX-INT8; "
                        "not the default, so not what the targets are judged on)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, inputs and run order")
    p.add_argument("--cache", default=os.path.join(ROOT, "runs", "bench_cache"), help="converted-model cache")
    p.add_argument("--out", help="report path (default BENCHMARKS.md for the full sweep, else runs/bench/)")
    p.add_argument("--plot", help="PNG path (default benchmarks/ratio_vs_sparsity.png for the full sweep)")
    p.add_argument("--json-out", default=os.path.join(ROOT, "runs", "bench", "results.json"), help="raw results")
    p.add_argument("--from-json", help="render the report from a results.json of an earlier run; no measuring")
    args = p.parse_args(argv)
    subset = args.quick or any(getattr(args, k) is not None for k in FULL)
    defaults = QUICK if args.quick else FULL
    try:
        args.model_list = _names(args.models or defaults["models"], bench_models.ARCHITECTURES, "--models")
        args.n_list = _numbers(args.n or defaults["n"], int, "--n", 1, 64)
        args.sparsity_list = _numbers(args.sparsity or defaults["sparsity"], float, "--sparsity", 0.0, 0.99)
        args.thread_list = _numbers(args.threads or defaults["threads"], int, "--threads", 1, 64)
        for name in ("runs", "warmup", "layer_runs", "passes"):
            value = getattr(args, name)
            if value is not None and value < (0 if name == "warmup" else 1):
                raise ValueError(f"--{name.replace('_', '-')} must be >= {0 if name == 'warmup' else 1}, got {value}")
    except ValueError as e:
        p.error(str(e))
    args.runs = args.runs or (15 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (3 if args.quick else 5)
    args.layer_runs = args.layer_runs or (25 if args.quick else 50)
    args.passes = args.passes or (1 if args.quick else 3)
    args.subset = subset
    args.out_given, args.plot_given = args.out, args.plot
    _choose_outputs(args, full=not subset)
    return args


def _choose_outputs(args, full):
    """BENCHMARKS.md and benchmarks/*.png for a full sweep, runs/bench/ for a subset (unless given)."""
    out, plot = FULL_OUT if full else SUBSET_OUT
    args.out = os.path.abspath(args.out_given or out)
    args.plot = os.path.abspath(args.plot_given or plot)


def _names(text, known, flag):
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"{flag}: unknown {unknown or text!r}; choose from {sorted(known)}")
    return names


def _numbers(text, kind, flag, low, high):
    try:
        values = [kind(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a comma-separated list of {kind.__name__}") from None
    bad = [v for v in values if not low <= v <= high]
    if bad or not values:
        raise ValueError(f"{flag}: values must be in [{low}, {high}], got {text!r}")
    return sorted(set(values))


def log(message, started):
    print(f"[{time.time() - started:7.1f} s] {message}", file=sys.stderr, flush=True)


def commit():
    """The commit measured (git rev-parse HEAD), with "+dirty" when the tree has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def lscpu_model():
    """lscpu's "Model name", or None."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name:")), None)


def machine():
    """CPU model, cores, vector extensions, load: what the report states about the machine."""
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "family": "", "model": ""}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    info["cpu"] = value
                elif key == "cpu family":
                    info["family"] = value
                elif key == "model":
                    info["model"] = value
                elif key == "flags":
                    flags = value.split()
                    info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512vl", "asimd") if f in flags]
                    break
    except OSError:
        pass
    info["cpu"] = lscpu_model() or info["cpu"]
    info["load"] = list(os.getloadavg())
    return info


def versions():
    from importlib import metadata

    import tensorflow as tf

    out = {"python": platform.python_version(), "tensorflow": tf.__version__, "onexn": onexn_tf.__version__}
    for dist in ("ai-edge-litert", "tf-keras"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def relative_diff(a, b):
    """max |a - b| / max |b| (0 when b is all zero): random-weight MobileNets have tiny logits."""
    import numpy as np

    scale = float(np.abs(b).max())
    return float(np.abs(a.astype(np.float64) - b).max()) / scale if scale > 0 else 0.0


def cpu_times():
    """(all CPU time, busy CPU time, this process's CPU time) in clock ticks, from Linux /proc; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    total = sum(fields[:8])
    return total, total - fields[3] - fields[4], int(own[11]) + int(own[12])  # idle, iowait; utime, stime


MIN_WINDOW_TICKS = 100  # the kernel samples CPU time per clock tick: shorter windows are mostly sampling noise


def other_cpu(before, after):
    """Share of the machine's CPU time that other processes used between two cpu_times() (0..1), or None
    when it cannot be told (no /proc, or a window under MIN_WINDOW_TICKS)."""
    if before is None or after is None or after[0] - before[0] < MIN_WINDOW_TICKS:
        return None
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / (after[0] - before[0]))


def wait_for_quiet(args, started):
    """Waits (up to --max-wait s) until other processes use at most --max-other-cpu of the machine."""
    deadline = time.time() + args.max_wait
    while True:
        before = cpu_times()
        time.sleep(2)
        share = other_cpu(before, cpu_times())
        if share is None or share <= args.max_other_cpu or time.time() > deadline:
            return share
        log(f"other processes use {share:.0%} of the CPU; waiting", started)
        time.sleep(8)


def measured(args, started, what, measure):
    """Runs measure() -> row; when other processes used more than --max-other-cpu of the machine meanwhile,
    waits for quiet and measures again (--retries times). Keeps the quietest attempt; records its share, and
    in ``tries`` the times of every attempt (the all-passes medians count them all).
    Measurements too short to tell (single convolutions) are not retried: the caller checks for quiet before
    a batch of them instead."""
    best, tries = None, []
    for attempt in range(1, args.retries + 2):
        if attempt > 1:
            log(f"{what}: other processes used {best['other_cpu']:.0%} of the CPU; measuring again", started)
            wait_for_quiet(args, started)
        before = cpu_times()
        row = measure()
        row.update(other_cpu=other_cpu(before, cpu_times()), attempts=attempt, tries=tries)
        tries.append({k: row[k] for k in ("dense_ms", "onexn_ms", "ratio")})
        if row["other_cpu"] is None:
            return row
        if best is None or row["other_cpu"] < best["other_cpu"]:
            best = row
        if row["other_cpu"] <= args.max_other_cpu:
            break
    return best


def measure_pairs(dense, compact, threads, runs, warmup, seed, options, delegate_ok):
    """Stock dense against onexn, then stock dense against stock compact: two interleaved pairs, the way
    `onexn bench` measures. With all three interleaved, the third interpreter's buffers evicted the other
    two's between invokes, which hurts the faster variant most where a layer is memory-bound (MobileNetV2's
    112x112x16->96 at 50%, N=16: 0.83 of stock with three, 0.66 as a pair). The onexn ratio uses its own
    pair's stock time, the compact ratio its own."""
    mc = bench.measure([bench.Variant("dense", dense), bench.Variant("compact", compact)], threads=threads,
                       runs=runs, warmup=warmup, seed=seed)
    d, c = mc.timings["dense"], mc.timings["compact"]
    row = {"threads": threads, "runs": runs, "compact_ms": c.median_ms, "compact_ratio": c.median_ms / d.median_ms,
           "compact_identical": bool((mc.outputs["compact"] == mc.outputs["dense"]).all()),
           "onexn_ms": None, "ratio": None}
    if delegate_ok:
        mo = bench.measure([bench.Variant("dense", dense), bench.Variant("onexn", dense, True, dict(options))],
                           threads=threads, runs=runs, warmup=warmup, seed=seed)
        d, o, report = mo.timings["dense"], mo.timings["onexn"], mo.reports["onexn"]
        row.update(onexn_ms=o.median_ms, onexn_p10_ms=o.p10_ms, onexn_p90_ms=o.p90_ms,
                   ratio=o.median_ms / d.median_ms, claimed=report.get("claimed", 0), isa=report.get("isa", "?"),
                   dense_nodes=len(report.get("dense_nodes", [])), partitions=report.get("partitions"),
                   declined=len(report.get("declined", [])),
                   kernels=sorted({k.get("kernel", "") for k in report.get("kernels", [])}),
                   rel_diff=relative_diff(mo.outputs["onexn"], mo.outputs["dense"]))
    row.update(dense_ms=d.median_ms, dense_p10_ms=d.p10_ms, dense_p90_ms=d.p90_ms)
    return row


def measure_int8(data, threads, runs, warmup, seed, options):
    """Stock (XNNPACK's int8 kernels on dense weights) against onexn on the same int8 file, interleaved."""
    m = bench.measure([bench.Variant("dense", data), bench.Variant("onexn", data, True, dict(options))],
                      threads=threads, runs=runs, warmup=warmup, seed=seed)
    d, o, report = m.timings["dense"], m.timings["onexn"], m.reports["onexn"]
    diff = m.outputs["onexn"].astype("i4") - m.outputs["dense"].astype("i4")
    return {"threads": threads, "runs": runs, "dense_ms": d.median_ms, "onexn_ms": o.median_ms,
            "ratio": o.median_ms / d.median_ms, "claimed": report.get("claimed", 0),
            "partitions": report.get("partitions", 0), "isa": report.get("isa", "?"),
            "kernels": sorted({k.get("kernel", "") for k in report.get("kernels", [])}),
            "max_steps": int(abs(diff).max())}


def measure_periodic(data, threads, runs, warmup, seed, options, interval_ms):
    """Stock against onexn on the same file, interleaved, each invoke interval_ms after the one before."""
    m = bench.measure([bench.Variant("dense", data), bench.Variant("onexn", data, True, dict(options))],
                      threads=threads, runs=runs, warmup=warmup, seed=seed, interval_ms=interval_ms)
    d, o = m.timings["dense"], m.timings["onexn"]
    return {"threads": threads, "runs": runs, "dense_ms": d.median_ms, "onexn_ms": o.median_ms,
            "ratio": o.median_ms / d.median_ms, "rel_diff": relative_diff(m.outputs["onexn"], m.outputs["dense"])}


def measure_scaling(data, runs, warmup, seed, options):
    """Stock and onexn at 1 and 2 threads on the same file, in turns of SCALING_TURN invokes."""
    variants = [bench.Variant(f"{side}-{t}", data, side == "onexn", dict(options) if side == "onexn" else {}, t)
                for side in ("dense", "onexn") for t in (1, 2)]
    m = bench.measure(variants, runs=runs, warmup=warmup, seed=seed, turn=SCALING_TURN)
    ms = {name: timing.median_ms for name, timing in m.timings.items()}
    return {"runs": runs, "turn": SCALING_TURN, "dense_1_ms": ms["dense-1"], "dense_2_ms": ms["dense-2"],
            "onexn_1_ms": ms["onexn-1"], "onexn_2_ms": ms["onexn-2"],
            "dense_speedup": ms["dense-1"] / ms["dense-2"], "onexn_speedup": ms["onexn-1"] / ms["onexn-2"],
            # the 2-thread pair, as measured() records every row's
            "dense_ms": ms["dense-2"], "onexn_ms": ms["onexn-2"], "ratio": ms["onexn-2"] / ms["dense-2"]}


# A pass in which the stock runtime ran this much slower than its fastest time on the same model and thread
# count (the stock runtime's work does not depend on N or sparsity: dense weights, the same graph) was
# disturbed: on this shared host another tenant can take a core or the memory bandwidth without showing in
# /proc/stat (seen: 2-thread stock runs at 1-thread speed). Such passes are left out of the case's medians;
# a case with no undisturbed pass is measured again after the passes, up to MAKEUP_TRIES times.
DISTURBED = 1.10
MAKEUP_TRIES = 3


def undisturbed(dense_ms, reference=None):
    """Indices of the passes whose stock time is within DISTURBED of `reference` (default, and when no pass
    is: the case's fastest pass)."""
    best = min(dense_ms)
    calm = [i for i, d in enumerate(dense_ms) if d <= DISTURBED * min(best, reference or best)]
    return calm or [i for i, d in enumerate(dense_ms) if d <= DISTURBED * best]


def stock_references(rows):
    """The fastest stock time per (model, threads) over every pass of every case."""
    refs = {}
    for r in rows:
        for d in r.get("pass_dense_ms") or [r["dense_ms"]]:
            key = (r["model"], r["threads"])
            refs[key] = min(refs.get(key, d), d)
    return refs


def needs_makeup(rows, reference):
    """True if no pass of the case ran the stock runtime within DISTURBED of its reference time."""
    return not any(r["dense_ms"] <= DISTURBED * reference for r in rows)


def all_pass_medians(ratios, dense_ms, onexn_ms):
    """{"ratio_all", "dense_ms_all", "onexn_ms_all"}: medians over every timed pass, noisy or not (what a
    user running the model sees); the ratio is the median per-pass ratio, as for the filtered figure."""
    out = {"dense_ms_all": statistics.median(dense_ms)}
    if ratios and None not in ratios:
        out["ratio_all"] = statistics.median(ratios)
    if onexn_ms and None not in onexn_ms:
        out["onexn_ms_all"] = statistics.median(onexn_ms)
    return out


def combine(rows, reference=None):
    """One result row from the passes of a case: medians over the undisturbed passes (ratio: the median
    per-pass ratio), medians over every timed pass (``*_all``: re-measured attempts and make-up passes
    included), every pass's ratio and stock time, the worst interference seen."""
    keep = [rows[i] for i in undisturbed([r["dense_ms"] for r in rows], reference)]
    ordered = sorted(keep, key=lambda r: r["ratio"] if r["ratio"] is not None else r["dense_ms"])
    out = dict(ordered[len(ordered) // 2])  # claimed nodes, kernels, sizes: the same in every pass
    out.pop("tries", None)
    for key in ("dense_ms", "compact_ms", "compact_ratio") + (("onexn_ms", "ratio") if out["ratio"] else ()):
        out[key] = statistics.median(r[key] for r in keep)
    tries = [t for r in rows for t in r.get("tries") or [r]]
    shares = [r["other_cpu"] for r in rows if r.get("other_cpu") is not None]
    out.update(other_cpu=max(shares) if shares else None, passes=len(rows), kept_passes=len(keep),
               pass_ratios=[r["ratio"] for r in rows], pass_dense_ms=[r["dense_ms"] for r in rows],
               pass_onexn_ms=[r.get("onexn_ms") for r in rows], all_ratios=[t["ratio"] for t in tries],
               all_dense_ms=[t["dense_ms"] for t in tries], all_onexn_ms=[t.get("onexn_ms") for t in tries])
    out.update(all_pass_medians(out["all_ratios"], out["all_dense_ms"], out["all_onexn_ms"]))
    return out


def recombine(row, reference=None):
    """A combined row of a results.json again, with the disturbed passes left out (approximate onexn_ms =
    stock x ratio when the per-pass onexn times were not saved); the all-passes medians from the passes
    when the row has none (results.json files from before they were reported)."""
    ratios, dense = row.get("pass_ratios"), row.get("pass_dense_ms")
    if not dense or not ratios or None in ratios:
        return row
    if "ratio_all" not in row:
        row = dict(row, **all_pass_medians(ratios, dense, row.get("pass_onexn_ms")))
    if len(dense) < 2:
        return row
    keep = undisturbed(dense, reference)
    out = dict(row, kept_passes=len(keep), dense_ms=statistics.median(dense[i] for i in keep),
               ratio=statistics.median(ratios[i] for i in keep))
    onexn = row.get("pass_onexn_ms")
    have = onexn is not None and len(onexn) == len(dense) and None not in onexn
    out["onexn_ms"] = statistics.median(onexn[i] for i in keep) if have else out["dense_ms"] * out["ratio"]
    return out


def int8_case_list(args):
    """(model, n, sparsity, thread counts) of the int8 cases --int8 asks for, in the order they run."""
    if args.int8 == "grid":
        return [(name, n, s, args.thread_list) for name in args.model_list for n in args.n_list
                for s in args.sparsity_list]
    return [(t["model"], t["n"], t["sparsity"], [t["threads"]]) for t in bench_report.INT8_TARGETS
            if t["model"] in args.model_list]


class Sweep:
    """Measures the cases: whole models in --passes passes (pass-major, so repeats of a case are minutes
    apart), then MobileNetV2's 1x1 convolutions once."""

    def __init__(self, args, results, started, delegate_ok, options):
        self.args, self.results, self.started = args, results, started
        self.delegate_ok, self.options = delegate_ok, options
        self.cache = bench_models.Cache(args.cache)
        self.models = {}

    def model(self, name):
        if name not in self.models:
            log(f"{name}: build (weights=None, seed {self.args.seed}) and convert dense (cached)", self.started)
            self.models[name] = bench_models.SweepModel(name, self.cache, seed=self.args.seed)
        return self.models[name]

    def model_case(self, name, n, s, t, weights=bench_models.ONE_SHOT, p=0, label=None):
        """One whole-model case: stock dense, stock compact, onexn; a result row with the N the converter
        detected (the set over its records)."""
        a = self.args
        files = self.model(name).pruned(n, s, weights)
        what = f"{name} 1x{n} {s:.0%} {t}T" + ("" if weights == bench_models.ONE_SHOT else f" {weights}")
        row = measured(a, self.started, what, lambda: measure_pairs(
            files["onexn"], files["compact"], t, a.runs, a.warmup, a.seed, self.options, self.delegate_ok))
        records = onexn_tf.read_metadata(files["onexn"])
        row.update(model=name, n=n, sparsity=s, weights=weights, file_mb=len(files["onexn"]) / 1e6,
                   compact_file_mb=len(files["compact"]) / 1e6, records=len(records),
                   detected_n=sorted({r.n for r in records}))
        onexn = f"onexn {row['onexn_ms']:.2f} ms ({row['ratio']:.2f})" if self.delegate_ok else "onexn skipped"
        log(f"{label or f'pass {p + 1}/{a.passes}'} {what}: stock {row['dense_ms']:.2f} ms, compact "
            f"{row['compact_ms']:.2f} ms ({row['compact_ratio']:.2f}), {onexn}, N detected {row['detected_n']}",
            self.started)
        return row

    def int8_cases(self, p):
        """The int8 cases (--int8) of pass p, after its float cases: a row per case and pass in results["int8"]
        (the report takes each case's median over its passes)."""
        a = self.args
        for name, n, s, threads in int8_case_list(a):
            data = self.model(name).int8(n, s)
            for t in threads:
                row = measured(a, self.started, f"pass {p + 1}/{a.passes} int8 {name} 1x{n} {s:.0%} {t}T",
                               lambda: measure_int8(data, t, a.runs, a.warmup, a.seed, self.options))
                row.update(model=name, n=n, sparsity=s, file_mb=len(data) / 1e6, **{"pass": p})
                self.results["int8"].append(row)
                _save(a, self.results)
                log(f"int8 {name} 1x{n} {s:.0%} {t}T: stock {row['dense_ms']:.2f} ms, onexn "
                    f"{row['onexn_ms']:.2f} ms ({row['ratio']:.2f}), {row['partitions']} partitions",
                    self.started)

    def periodic_cases(self, p):
        """The PERIODIC cases of pass p whose (model, n, sparsity, threads) the sweep holds, once per interval
        of PERIODIC_MS: a row each in results["periodic"]."""
        a = self.args
        chosen = {(name, n, s, t) for name in a.model_list for n in a.n_list for s in a.sparsity_list
                  for t in a.thread_list}
        for name, n, s, t in PERIODIC:
            if (name, n, s, t) not in chosen:
                continue
            data = self.model(name).pruned(n, s)["onexn"]
            for interval in PERIODIC_MS:
                what = f"pass {p + 1}/{a.passes} {name} 1x{n} {s:.0%} {t}T, invokes {interval:g} ms apart"
                row = measured(a, self.started, what, lambda: measure_periodic(
                    data, t, a.runs, a.warmup, a.seed, self.options, interval))
                row.update(model=name, n=n, sparsity=s, interval_ms=interval, **{"pass": p})
                self.results.setdefault("periodic", []).append(row)
                _save(a, self.results)
                log(f"{what}: stock {row['dense_ms']:.2f} ms, onexn {row['onexn_ms']:.2f} ms ({row['ratio']:.2f})",
                    self.started)

    def scaling_cases(self, p):
        """The SCALING cases of pass p the sweep holds at 1 and 2 threads: a row each in results["scaling"]."""
        a = self.args
        if not {1, 2} <= set(a.thread_list):
            return
        for name, n, s in SCALING:
            if name not in a.model_list or n not in a.n_list or s not in a.sparsity_list:
                continue
            data = self.model(name).pruned(n, s)["onexn"]
            what = f"pass {p + 1}/{a.passes} {name} 1x{n} {s:.0%}, 1 and 2 threads in turns"
            # Twice the runs: a turn times one runtime at one thread count, so drift between turns is noise.
            # The vCPUs' round trip before and after: where the host had placed them (vcpu_distance.py).
            before = vcpu_distance.round_trip_ns()
            row = measured(a, self.started, what, lambda: measure_scaling(data, 2 * a.runs, a.warmup, a.seed,
                                                                           self.options))
            row.update(model=name, n=n, sparsity=s, vcpu_round_trip_ns=[before, vcpu_distance.round_trip_ns()],
                       **{"pass": p})
            self.results.setdefault("scaling", []).append(row)
            _save(a, self.results)
            log(f"{what}: stock {row['dense_1_ms']:.2f} -> {row['dense_2_ms']:.2f} ms ({row['dense_speedup']:.2f}x), "
                f"onexn {row['onexn_1_ms']:.2f} -> {row['onexn_2_ms']:.2f} ms ({row['onexn_speedup']:.2f}x), "
                f"vCPU round trip {bench_report.round_trip_text(row)}", self.started)

    def layer_cases(self, n, s, shapes, threads):
        """MobileNetV2 1x1 convolutions cut out of the pruned model as single-conv models; result rows."""
        a = self.args
        model = graph.read_model(self.model("mobilenet_v2").pruned(n, s)["onexn"])
        share = wait_for_quiet(a, self.started)
        rows = []
        for op_index, shape in shapes:
            single = profile.single_op_model(model, op_index)
            annotated = onexn_tf.convert(single)
            compact = onexn_tf.convert(single, compact=True)
            for t in threads:
                row = measured(a, self.started, f"layer {shape} 1x{n} {s:.0%} {t}T", lambda: measure_pairs(
                    annotated, compact, t, a.layer_runs, max(a.warmup, 5), a.seed, self.options, self.delegate_ok))
                row.update(shape=list(shape), op_index=op_index, n=n, sparsity=s, batch_other_cpu=share,
                           detected_n=sorted({r.n for r in onexn_tf.read_metadata(annotated)}))
                rows.append(row)
        return rows

    def cases(self):
        """(model, n, sparsity, threads, weights) of the whole-model cases, in the order of a pass."""
        a = self.args
        grid = [(name, n, s, t, bench_models.ONE_SHOT) for name in a.model_list for n in a.n_list
                for s in a.sparsity_list for t in a.thread_list]
        chosen = set(grid)
        return grid + [case + (bench_models.TRAINED_LIKE,) for case in TRAINED_LIKE
                       if case + (bench_models.ONE_SHOT,) in chosen]

    def run(self):
        a, results = self.args, self.results
        repeats = {}

        def combined():
            refs = stock_references([r for rows in repeats.values() for r in rows])
            return [combine(rows, refs[(k[0], k[3])]) for k, rows in repeats.items()]

        for p in range(a.passes):
            for key in self.cases():
                repeats.setdefault(key, []).append(self.model_case(*key, p=p))
                results["models"] = combined()
                _save(a, results)
            if self.delegate_ok:
                self.periodic_cases(p)
                self.scaling_cases(p)
            if a.int8 and self.delegate_ok:
                self.int8_cases(p)
        if a.passes > 1:
            # Cases whose every pass fell into a disturbed stretch: measured again (the targets' cases first).
            targets = {(t["model"], t["n"], t["sparsity"], t["threads"], bench_models.ONE_SHOT)
                       for t in bench_report.TARGETS if t["kind"] == "model"}
            for key in sorted(repeats, key=lambda k: k not in targets):
                for _ in range(MAKEUP_TRIES):
                    refs = stock_references([r for rows in repeats.values() for r in rows])
                    if not needs_makeup(repeats[key], refs[(key[0], key[3])]):
                        break
                    repeats[key].append(self.model_case(*key, label="make-up pass"))
                results["models"] = combined()
                _save(a, results)
        for name in a.model_list:
            if name == "mobilenet_v2" and not a.no_layers:
                shapes = bench_models.pointwise_convs(self.model(name).dense)
                log(f"mobilenet_v2: {len(shapes)} distinct 1x1 conv shapes as single-conv models", self.started)
                for n in a.n_list:
                    for s in a.sparsity_list:
                        results["layers"] += self.layer_cases(n, s, shapes, a.thread_list)
                        _save(a, results)
                        if self.delegate_ok:
                            for t in a.thread_list:
                                agg = bench_report.layer_summary(results["layers"], n, s, t)
                                log(f"layers 1x{n} {s:.0%} {t}T: geometric mean onexn/stock {agg['geomean']:.2f}",
                                    self.started)


def profiles(args, results, started, options):
    """Per-op profiles (onexn_tf.runtime.profile.per_op) of the end-to-end target cases in this sweep."""
    cache = bench_models.Cache(args.cache)
    models = {}
    for t in bench_report.TARGETS:
        if t["kind"] != "model" or t["model"] not in args.model_list or t["n"] not in args.n_list \
                or t["sparsity"] not in args.sparsity_list or t["threads"] not in args.thread_list:
            continue
        if t["model"] not in models:
            models[t["model"]] = bench_models.SweepModel(t["model"], cache, seed=args.seed)
        data = models[t["model"]].pruned(t["n"], t["sparsity"])["onexn"]
        log(f"profile {t['case']}", started)
        per_op = profile.per_op(data, threads=t["threads"], runs=max(args.runs // 2, 10), warmup=3,
                                seed=args.seed, **options)
        results["profiles"].append({"case": t["case"], "model": t["model"], "n": t["n"],
                                    "sparsity": t["sparsity"], "threads": t["threads"], **per_op.as_dict()})
        _save(args, results)


def xnnpack_probe(args, results, started):
    log("XNNPACK sparse-inference probe model", started)
    dense, compact = bench_models.xnnpack_sparse_probe(args.seed)
    row = measured(args, started, "probe", lambda: measure_pairs(dense, compact, 1, 40, 5, args.seed, {}, False))
    results["xnnpack_probe"] = row
    log(f"probe: stock dense {row['dense_ms']:.2f} ms, compact {row['compact_ms']:.2f} ms "
        f"(identical outputs: {row['compact_identical']})", started)


def _save(args, results):
    os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
    with open(args.json_out, "w") as f:
        json.dump(results, f, indent=1)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.time()
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        refs = stock_references(results["models"])
        results["models"] = [recombine(r, refs[(r["model"], r["threads"])]) for r in results["models"]]
        _choose_outputs(args, full=results.get("full", False))
    else:
        delegate_ok, why = bench.delegate_status()
        if not delegate_ok:
            print(f"run.py: the onexn delegate is not available ({why}); measuring the stock runtime only",
                  file=sys.stderr)
        options = {"kernel": args.kernel, **({"amx": 1} if args.amx else {})}
        load = os.getloadavg()[0]
        if load > 0.5:
            print(f"run.py: load average {load:.2f}: other work is running; the report records it, but run "
                  "the committed sweep on an idle machine", file=sys.stderr)
        results = {"command": "python benchmarks/run.py" + ("" if not sys.argv[1:] else " " + shlex.join(sys.argv[1:])),
                   "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "commit": commit(),
                   "machine": machine(), "versions": versions(), "delegate": why if not delegate_ok else "ok",
                   "settings": {"runs": args.runs, "warmup": args.warmup, "layer_runs": args.layer_runs,
                                "seed": args.seed, "kernel": args.kernel, "amx": args.amx,
                                "max_other_cpu": args.max_other_cpu, "passes": args.passes},
                   "full": not args.subset, "models": [], "layers": [], "int8": [], "periodic": [], "scaling": [],
                   "profiles": [],
                   "xnnpack_probe": None}
        xnnpack_probe(args, results, started)
        sweep = Sweep(args, results, started, delegate_ok, options)
        sweep.run()
        if delegate_ok and not args.no_profile:
            profiles(args, results, started, options)
        results["machine"]["load_end"] = list(os.getloadavg())
        results["minutes"] = (time.time() - started) / 60
        _save(args, results)
    bench_report.write_report(results, args.out, args.plot, os.path.join(ROOT, "benchmarks", "analysis.md"))
    log(f"wrote {args.out} and {args.plot}" + ("" if args.from_json else f" (raw results: {args.json_out})"), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
