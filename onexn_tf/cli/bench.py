"""``onexn bench``: latency of the onexn delegate vs the stock runtime, side by side in one run.

Stock: ai_edge_litert's Interpreter with its default delegate (XNNPACK, dense) and num_threads=T.
onexn: the same model with the onexn delegate in front (XNNPACK takes the nodes it leaves). Same input;
runs interleaved in a random order per round so that machine noise hits both sides.
"""

import json
import os
import sys

from onexn_tf.runtime import bench, profile
from onexn_tf.tflite.graph import as_bytes


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL.tflite", help="a .tflite file (from onexn_tf.convert)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both runtimes (default 1)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per side (default 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs per side first (default 10)")
    parser.add_argument("--kernel", default="auto",
                        help="onexn kernel family: auto (default), scalar, avx2, avx512, neon")
    parser.add_argument("--dense", default="auto", choices=("auto", "never", "always"),
                        help="the delegate's dense option: auto (default: a cost model picks kept blocks or every "
                             "block per node, and a graph with too little to gain is left to the stock runtime), "
                             "never (always the kept blocks), always (every block)")
    parser.add_argument("--amx", action="store_true",
                        help="the delegate's amx=1: int8 layers of 16-channel blocks on AMX tiles (a CPU with "
                             "AMX-INT8 only; off by default)")
    parser.add_argument("--interval-ms", type=float, default=0.0, metavar="MS",
                        help="idle time before every invoke, as an application that runs the model periodically "
                             "(e.g. 30 for 30 frames a second) leaves the runtimes' threads; the sides then take "
                             "turns of 5 invokes, the first untimed; default 0: back to back")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input and the run order")
    parser.add_argument("--per-op", action="store_true",
                        help="also time every operator alone: the delegate's nodes and what the stock runtime kept")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line (baseline_ms, onexn_ms, ratio, threads, runs, ..., emulated: "
                             "null or why the times mean nothing), no progress bar")


def _error(message):
    print(f"onexn bench: error: {message}", file=sys.stderr)
    return 2


def _check_args(args):
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.runs < 1:
        raise ValueError(f"--runs must be >= 1, got {args.runs}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if not 0 <= args.interval_ms < float("inf"):
        raise ValueError(f"--interval-ms must be >= 0 and finite, got {args.interval_ms}")
    if not os.path.isfile(args.model):
        raise ValueError(f"{args.model}: no such file")


def _stats_line(label, median, low, p10, p90):
    return f"  {label:18} {median:9.3f} {low:9.3f}   {p10:.3f} - {p90:.3f}"


def run(args):
    try:
        _check_args(args)
        data = as_bytes(args.model)
    except ValueError as e:
        return _error(e)
    options = {"kernel": args.kernel, "dense": args.dense}
    if args.amx:
        options["amx"] = 1
    available, why = bench.delegate_status()
    try:
        if available:
            result = bench.compare(data, threads=args.threads, runs=args.runs, warmup=args.warmup,
                                   progress=not args.json, seed=args.seed, interval_ms=args.interval_ms, **options)
            out = result.as_dict()
        else:
            # Only while the delegate is not built: measure the stock side alone and say so.
            m = bench.measure([bench.Variant("baseline", data)], threads=args.threads, runs=args.runs,
                              warmup=args.warmup, seed=args.seed, progress=not args.json, desc="stock",
                              interval_ms=args.interval_ms)
            t = m.timings["baseline"]
            out = {"baseline_ms": t.median_ms, "onexn_ms": None, "ratio": None, "baseline_min_ms": t.min_ms,
                   "baseline_p10_ms": t.p10_ms, "baseline_p90_ms": t.p90_ms, "threads": args.threads,
                   "runs": args.runs, "warmup": args.warmup, "interval_ms": args.interval_ms,
                   "onexn_skipped": why}
        per_op = None
        if args.per_op:
            per_op = profile.per_op(data, threads=args.threads, runs=args.runs, warmup=args.warmup,
                                    seed=args.seed, progress=not args.json, delegate=available,
                                    **(options if available else {}))
    except ValueError as e:
        return _error(e)
    out = dict(out, model=args.model, emulated=bench.emulation())
    if per_op is not None:
        out["per_op"] = per_op.as_dict()
    if args.json:
        print(json.dumps(out, separators=(",", ":")))
    else:
        _print_human(out, per_op)
    if not available:
        print(f"onexn bench: the onexn side was skipped: the delegate library is not available ({why})",
              file=sys.stderr)
        return 1
    return 0


def _print_human(out, per_op):
    if out["emulated"]:
        print(f"note: this runs emulated ({out['emulated']}, e.g. under qemu-user): the times below mean "
              "nothing; the outputs and what the delegate claims do")
    apart = f", each {out['interval_ms']:g} ms after the last" if out["interval_ms"] else ""
    print(f"{out['model']}: {out['threads']} thread(s), {out['runs']} interleaved runs per side "
          f"after {out['warmup']} warm-up runs{apart}")
    print(f"  {'':18} {'median ms':>9} {'min ms':>9}   p10 - p90 ms")
    print(_stats_line("stock (XNNPACK)", out["baseline_ms"], out["baseline_min_ms"], out["baseline_p10_ms"],
                      out["baseline_p90_ms"]))
    if out["onexn_ms"] is not None:
        print(_stats_line(f"onexn ({out['isa']})", out["onexn_ms"], out["onexn_min_ms"], out["onexn_p10_ms"],
                          out["onexn_p90_ms"]))
        print(f"  ratio onexn / stock (medians): {out['ratio']:.3f}   ({1 / out['ratio']:.2f}x)   "
              f"delegate nodes: {out['claimed']}   max |onexn - stock| = {out['max_abs_diff']:.2e} "
              f"({out['max_rel_diff']:.1e} of max |stock|)")
    if per_op is not None:
        print()
        print(f"per operator, each timed alone (median of {per_op.runs} runs, {per_op.threads} thread(s)):")
        print(per_op.format())
