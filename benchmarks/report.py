"""The benchmark sweep's report: issue 14's targets, met or not, tables for BENCHMARKS.md, the plot.

Pure functions over result rows (dicts, as benchmarks/run.py stores them in JSON):
  end-to-end row: model, n, sparsity, threads, weights ("one-shot" or "trained-like"; absent: one-shot),
    dense_ms, compact_ms, onexn_ms, ratio (onexn / dense), compact_ratio (compact / dense): medians over the
    undisturbed passes; dense_ms_all, onexn_ms_all, ratio_all: medians over every timed pass; claimed,
    detected_n (the N of the converter's records), records, ...
  layer row: shape [h, w, cin, cout], n, sparsity, threads, dense_ms, compact_ms, onexn_ms, ratio, ...
"""

import statistics

# Issue 14's targets: ratio onexn / stock XNNPACK dense, same run, on the user's path (keras.applications
# models, the default policy), judged on the median over every timed pass.
TARGETS = [
    {"case": "MobileNetV2, N=16, 50%, 1 thread", "kind": "model",
     "model": "mobilenet_v2", "sparsity": 0.5, "n": 16, "threads": 1, "target": 0.65},
    {"case": "MobileNetV2, N=16, 75%, 1 thread", "kind": "model",
     "model": "mobilenet_v2", "sparsity": 0.75, "n": 16, "threads": 1, "target": 0.45},
    {"case": "MobileNetV2, N=4 (the paper's setting), 50%, 1 thread", "kind": "model",
     "model": "mobilenet_v2", "sparsity": 0.5, "n": 4, "threads": 1, "target": 0.80},
    {"case": "MobileNetV2, N=16, 50%, 2 threads", "kind": "model",
     "model": "mobilenet_v2", "sparsity": 0.5, "n": 16, "threads": 2, "target": 0.70},
    {"case": "ResNet-50, N=16, 50%, 1 thread", "kind": "model",
     "model": "resnet50", "sparsity": 0.5, "n": 16, "threads": 1, "target": 0.55},
    {"case": "every N=1 and N=2 whole-model case (the worst)", "kind": "no-harm", "n": (1, 2), "target": 1.00},
]

ONE_SHOT = "one-shot"  # benchmarks.models.ONE_SHOT; not imported: this module runs without TensorFlow
MODEL_TITLES = {"mobilenet_v1": "MobileNetV1 1.0/224", "mobilenet_v2": "MobileNetV2 1.0/224",
                "resnet50": "ResNet-50"}


# Issue 17: onexn / XNNPACK int8 dense on the same fully int8-quantized file, default policy, 1 thread.
INT8_TARGETS = [
    {"model": "mobilenet_v2", "n": 16, "sparsity": 0.75, "threads": 1, "target": 0.60},
    {"model": "mobilenet_v2", "n": 16, "sparsity": 0.5, "threads": 1, "target": 0.85},
    {"model": "resnet50", "n": 16, "sparsity": 0.5, "threads": 1, "target": 0.70},
]


def geomean(values):
    """Geometric mean of positive numbers; ValueError on an empty list or a non-positive value (a ratio
    of 0 is a broken row, which statistics.geometric_mean accepts from Python 3.13 on)."""
    values = list(values)
    if not values or any(not v > 0 for v in values):
        raise ValueError(f"geomean needs positive numbers, got {values}")
    return statistics.geometric_mean(values)


def _same(a, b):
    return abs(a - b) < 1e-9


def layer_summary(layer_rows, n, sparsity, threads):
    """Aggregate of the per-layer rows of one (n, sparsity, threads): None when there are none.

    ``geomean``: geometric mean of the per-layer ratios (each shape counts once);
    ``weighted``: sum of onexn times / sum of dense times (big layers count more).
    """
    rows = [r for r in layer_rows if r["n"] == n and _same(r["sparsity"], sparsity) and r["threads"] == threads]
    if not rows:
        return None
    return {"layers": len(rows), "geomean": geomean(r["ratio"] for r in rows),
            "weighted": sum(r["onexn_ms"] for r in rows) / sum(r["dense_ms"] for r in rows),
            "best": min(r["ratio"] for r in rows), "worst": max(r["ratio"] for r in rows),
            "rows": rows}


def weights_of(row):
    return row.get("weights", ONE_SHOT)


def user_ratio(row):
    """The median onexn/stock ratio over every timed pass (what a user sees); the filtered ratio for rows of
    results.json files from before it was recorded."""
    return row.get("ratio_all", row["ratio"])


def find_row(rows, model, n, sparsity, threads, weights=ONE_SHOT):
    for r in rows:
        if r["model"] == model and r["n"] == n and _same(r["sparsity"], sparsity) and r["threads"] == threads \
                and weights_of(r) == weights:
            return r
    return None


def _case_name(r):
    return f"{MODEL_TITLES.get(r['model'], r['model'])} N={r['n']} {r['sparsity']:.0%} {r['threads']}T"


def handed_back(row):
    """The delegate claimed nothing (the do-no-harm rules left the graph to the stock runtime): both sides of
    the pair ran the same stock graph."""
    return row.get("claimed") == 0


def evaluate_targets(rows):
    """One dict per target: case, target, measured (the all-passes median; None if not in this sweep),
    filtered (the undisturbed-passes median), status ("met" when measured <= target, "not met", or
    "not measured"), detail. The no-harm target's figures are the worst over its cases."""
    out = []
    for t in TARGETS:
        measured = filtered = None
        detail = ""
        if t["kind"] == "model":
            r = find_row(rows, t["model"], t["n"], t["sparsity"], t["threads"])
            if r:
                measured, filtered = user_ratio(r), r["ratio"]
                detail = (f"stock {r.get('dense_ms_all', r['dense_ms']):.2f} ms, onexn "
                          f"{r.get('onexn_ms_all', r['onexn_ms']):.2f} ms (all passes)")
        else:
            mine = [r for r in rows if r["n"] in t["n"] and weights_of(r) == ONE_SHOT]
            ran = [r for r in mine if not handed_back(r)]
            if mine:
                # A graph handed back runs on the stock runtime alone: 1.00, whatever noise the pair measured.
                measured = max([user_ratio(r) for r in ran] + ([1.0] if len(ran) < len(mine) else []))
                filtered = max([r["ratio"] for r in ran] + ([1.0] if len(ran) < len(mine) else []))
                above = sum(user_ratio(r) > t["target"] for r in ran)
                detail = (f"worst: {_case_name(max(ran, key=user_ratio))}; " if ran else "") + \
                    f"{above} of {len(ran)} cases the delegate ran above {t['target']:.2f}"
                if len(ran) < len(mine):
                    noise = [user_ratio(r) for r in mine if handed_back(r)]
                    detail += (f"; {len(mine) - len(ran)} handed back to the stock runtime, counted as 1.00 "
                               f"(stock against itself measured {min(noise):.2f}–{max(noise):.2f})")
        status = "not measured" if measured is None else "met" if measured <= t["target"] else "not met"
        out.append(dict(t, measured=measured, filtered=filtered, status=status, detail=detail))
    return out


def needed_claimed_ratio(target, dense_ms, claimed_stock_ms, kept_ms):
    """The ratio the delegate's own nodes must reach for the whole model to meet `target`, with the rest
    (`kept_ms`: what the stock runtime kept, plus overhead) unchanged. None if unreachable even at 0."""
    if claimed_stock_ms <= 0:
        return None
    need = (target * dense_ms - kept_ms) / claimed_stock_ms
    return need if need > 0 else None


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def targets_table(results):
    lines = ["| case | target | **all passes** (median) | undisturbed passes (median) | result | detail |",
             "|---|---|---:|---:|---|---|"]
    for r in results:
        result = r["status"]
        if r["status"] == "met":
            result = f"**met** ({r['target'] - r['measured']:.2f} under)"
        elif r["status"] == "not met":
            result = f"**not met**: over by {r['measured'] - r['target']:.2f} ({r['measured'] / r['target'] - 1:+.0%})"
        lines.append(f"| {r['case']} | ≤ {r['target']:.2f} | **{_fmt(r['measured'])}** | {_fmt(r['filtered'])} | "
                     f"{result} | {r['detail']} |")
    return "\n".join(lines)


def _mark(row, threshold):
    return "†" if (row.get("other_cpu") or 0.0) > threshold else ""


def _all_cell(row):
    """The all-passes median ratio, with the range over every timed pass."""
    spread = [v for v in row.get("all_ratios") or row.get("pass_ratios") or [] if v is not None]
    extra = f" ({min(spread):.2f}–{max(spread):.2f}, {len(spread)} passes)" if len(spread) > 1 else ""
    return f"**{user_ratio(row):.2f}**{extra}"


def _filtered_cell(row, threshold):
    passes = row.get("passes", 1)
    kept = row.get("kept_passes", passes)
    return f"{row['ratio']:.2f}{_mark(row, threshold)}" + (f" ({kept} of {passes})" if passes > 1 else "")


def _detected(row):
    found = row.get("detected_n")
    if found is None:
        return "?"
    text = ", ".join(map(str, found)) or "none"
    return text if found == [row["n"]] else f"**{text}**"  # bold: the records lost the N pruned with


def model_table(rows, model, noisy=0.05):
    """Markdown table of one model's one-shot cases: a row per (N, sparsity) with the N the converter
    detected and the 1xN nodes the delegate claimed, columns per thread count; † marks a case during which
    other processes used more than `noisy` of the machine's CPU."""
    mine = [r for r in rows if r["model"] == model and weights_of(r) == ONE_SHOT]
    threads = sorted({r["threads"] for r in mine})
    head = "| N | sparsity | N detected | 1xN nodes claimed |" + "".join(
        f" {t}T stock ms | {t}T compact/stock | {t}T onexn ms | **{t}T onexn/stock, all passes** |"
        f" {t}T onexn/stock, undisturbed |" for t in threads)
    lines = [head, "|---:|---:|---|---:|" + "---:|" * 5 * len(threads)]
    for n, s in sorted({(r["n"], r["sparsity"]) for r in mine}):
        cells, found = [], [r for r in mine if r["n"] == n and _same(r["sparsity"], s)]
        for t in threads:
            r = find_row(mine, model, n, s, t)
            cells.append(" - | - | - | - | - |" if r is None else
                         f" {r.get('dense_ms_all', r['dense_ms']):.2f} | {r['compact_ratio']:.2f} |"
                         f" {r.get('onexn_ms_all', r['onexn_ms']):.2f} | {_all_cell(r)} | {_filtered_cell(r, noisy)} |")
        lines.append(f"| {n} | {s:.0%} | {_detected(found[0])} | {found[0].get('claimed', '?')} |" + "".join(cells))
    return "\n".join(lines)


def scaling_rows(rows):
    """(model, n, sparsity, stock 1T ms, stock 2T ms, onexn 1T ms, onexn 2T ms) per one-shot case the sweep ran
    at 1 and 2 threads with the delegate, from the all-passes medians (what a user sees)."""
    out = []
    for r1 in rows:
        if r1["threads"] != 1 or weights_of(r1) != ONE_SHOT or r1.get("onexn_ms") is None:
            continue
        r2 = find_row(rows, r1["model"], r1["n"], r1["sparsity"], 2)
        if r2 is None or r2.get("onexn_ms") is None or handed_back(r1) or handed_back(r2):
            continue
        out.append((r1["model"], r1["n"], r1["sparsity"], r1.get("dense_ms_all", r1["dense_ms"]),
                    r2.get("dense_ms_all", r2["dense_ms"]), r1.get("onexn_ms_all", r1["onexn_ms"]),
                    r2.get("onexn_ms_all", r2["onexn_ms"])))
    return sorted(out)


SPEEDUP_HEADER = ["| model | N | sparsity | stock 1T / 2T ms | stock speedup | onexn 1T / 2T ms | onexn speedup | "
                  "**as well** |", "|---|---:|---:|---:|---:|---:|---:|---|"]


def speedup_row(model, n, sparsity, stock, onexn, stock_speedup, onexn_speedup):
    """A row of the speedup tables: stock / onexn are (1T ms, 2T ms); the speedups are text cells."""
    return (f"| {MODEL_TITLES.get(model, model)} | {n} | {sparsity:.0%} | {stock[0]:.2f} / {stock[1]:.2f} "
            f"| {stock_speedup} | {onexn[0]:.2f} / {onexn[1]:.2f} | {onexn_speedup} |")


def scaling_section(rows, turns=()):
    """Markdown lines comparing each runtime's 1 -> 2 thread speedup (issue 14 item 5: at least XNNPACK's):
    from the interleaved cases (`rows`), and from run.py's SCALING cases measured in turns (`turns`)."""
    lines = turns_table(turns) if turns else []
    cases = scaling_rows(rows)
    if not cases:
        return lines
    lines += ([""] if lines else []) + ["Each runtime's speedup from 1 to 2 threads on the same file: its 1-thread time over its 2-thread "
             "time, from the all-passes medians of the cases above (each side measured interleaved with the "
             "other, so both pay for the other's idle threads and evictions alike). **as well** when onexn's "
             "speedup is at least the stock runtime's, i.e. its 2-thread ratio is at most its 1-thread one. "
             "Cases the delegate handed back (no node claimed) are left out.", ""] + SPEEDUP_HEADER
    well = 0
    for model, n, s, d1, d2, o1, o2 in cases:
        ok = o1 / o2 >= d1 / d2
        well += ok
        lines.append(speedup_row(model, n, s, (d1, d2), (o1, o2), f"{d1 / d2:.2f}", f"{o1 / o2:.2f}")
                     + f" {'**yes**' if ok else 'no'} |")
    lines += ["", f"Interleaved: onexn scaled at least as well as the stock runtime in {well} of {len(cases)} cases."]
    return lines


def turns_table(rows):
    """Markdown lines for run.py's SCALING cases: per case, the medians over its passes."""
    cases = {}
    for r in rows:
        cases.setdefault((r["model"], r["n"], r["sparsity"]), []).append(r)
    lines = ["In turns (run.py's SCALING cases): stock and onexn at 1 and 2 threads on the same file, each taking "
             f"turns of {rows[0].get('turn', 10)} invokes, the first untimed, as a program that runs only that "
             "runtime sees it. Speedups are the medians of the per-pass ones (range in brackets).", ""] + SPEEDUP_HEADER
    for (model, n, s), group in sorted(cases.items()):
        med = {f: statistics.median(r[f] for r in group) for f in
               ("dense_1_ms", "dense_2_ms", "onexn_1_ms", "onexn_2_ms", "dense_speedup", "onexn_speedup")}

        def cell(field):
            values = [r[field] for r in group]
            return f"{med[field]:.2f}" + (f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else "")

        ok = med["onexn_speedup"] >= med["dense_speedup"]
        lines.append(speedup_row(model, n, s, (med["dense_1_ms"], med["dense_2_ms"]),
                                 (med["onexn_1_ms"], med["onexn_2_ms"]), cell("dense_speedup"), cell("onexn_speedup"))
                     + f" {'**yes**' if ok else 'no'} |")
    passes = ["- " + MODEL_TITLES.get(model, model) + f" N={n} {s:.0%}: " + ", ".join(
        f"{r['dense_speedup']:.2f} / {r['onexn_speedup']:.2f} ({round_trip_text(r)})" for r in group)
        for (model, n, s), group in sorted(cases.items()) if any(r.get("vcpu_round_trip_ns") for r in group)]
    if passes:
        lines += ["", "Per pass, stock / onexn speedup (the two vCPUs' round trip before and after the pass, "
                  "`benchmarks/vcpu_distance.py`: the host places them near or far apart, and moves them):", ""]
        lines += passes
    return lines


def round_trip_text(row):
    """The vCPU round trips a SCALING row recorded, as text ("? ns" where none was measured)."""
    values = row.get("vcpu_round_trip_ns") or []
    return " / ".join("?" if v is None else f"{v:.0f}" for v in values) + " ns" if values else "? ns"


def trained_like_table(rows):
    """Markdown table of the trained-like cases beside their one-shot twins: N detected, records, nodes
    claimed, ratios. None when the sweep had no trained-like case."""
    trained = [r for r in rows if weights_of(r) != ONE_SHOT]
    if not trained:
        return None
    lines = ["| case | N detected | records (one-shot) | 1xN nodes claimed (one-shot) | **onexn/stock, all passes** "
             "| undisturbed | one-shot, all passes |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in trained:
        twin = find_row(rows, r["model"], r["n"], r["sparsity"], r["threads"]) or {}
        lines.append(f"| {_case_name(r)} | {_detected(r)} | {r.get('records', '?')} ({twin.get('records', '-')}) | "
                     f"{r.get('claimed', '?')} ({twin.get('claimed', '-')}) | {_all_cell(r)} | {r['ratio']:.2f} | "
                     f"{_fmt(user_ratio(twin) if twin else None)} |")
    return "\n".join(lines)


def no_harm_lines(rows, layer_rows):
    """Markdown lines: every whole-model case (either median) and every single convolution whose onexn/stock
    ratio is above 1.00, or that there is none."""
    def verdict(cases, slower):
        if not cases:
            return "not measured in this run."
        return "none is slower with the delegate." if not slower else f"{len(slower)} slower with the delegate:"

    above = [r for r in rows if user_ratio(r) > 1.0 or r["ratio"] > 1.0]
    slower = [r for r in above if not handed_back(r)]
    lines = [f"Whole models ({len(rows)} cases): " + verdict(rows, slower)]
    lines += [f"- {_case_name(r)}" + ("" if weights_of(r) == ONE_SHOT else f", {weights_of(r)}") +
              f": {user_ratio(r):.2f} all passes, {r['ratio']:.2f} undisturbed" for r in slower]
    noise = [r for r in above if handed_back(r)]
    if noise:
        lines += ["", f"Handed back to the stock runtime (the delegate claimed nothing, so both sides ran the same "
                      f"stock graph) and measured above 1.00 by noise: "
                  + "; ".join(f"{_case_name(r)} {user_ratio(r):.2f} / {r['ratio']:.2f}" for r in noise) + "."]
    slow_layers = [r for r in layer_rows if r["ratio"] > 1.0]
    lines += ["", f"Single 1×1 convolutions ({len(layer_rows)} cases, one measurement each): "
              + verdict(layer_rows, slow_layers)]
    configs = sorted({(r["n"], r["sparsity"], r["threads"]) for r in slow_layers})
    if configs:
        lines += ["", "| N | sparsity | threads | slower | the slower shapes: onexn/stock (stock ms) |",
                  "|---:|---:|---:|---:|---|"]
    for n, sparsity, threads in configs:
        config = [r for r in layer_rows if r["n"] == n and _same(r["sparsity"], sparsity) and r["threads"] == threads]
        slow = [r for r in config if r["ratio"] > 1.0]
        shapes = "; ".join(f"{r['shape'][0]}x{r['shape'][1]} {r['shape'][2]}→{r['shape'][3]}: {r['ratio']:.2f} "
                           f"({r['dense_ms']:.3f})" for r in slow)
        lines.append(f"| {n} | {sparsity:.0%} | {threads} | {len(slow)} of {len(config)} | {shapes} |")
    return lines


def layer_table(layer_rows, threads):
    """Markdown: one row per 1x1 shape, one column per (N, sparsity) with the onexn/stock ratio."""
    rows = [r for r in layer_rows if r["threads"] == threads]
    if not rows:
        return ""
    configs = sorted({(r["n"], r["sparsity"]) for r in rows})
    shapes = []
    for r in rows:
        if tuple(r["shape"]) not in shapes:
            shapes.append(tuple(r["shape"]))
    head = "| HxW | cin→cout | MMACs | stock ms |" + "".join(f" 1x{n} {s:.0%} |" for n, s in configs)
    lines = [head, "|---|---|---:|---:|" + "---:|" * len(configs)]
    for shape in shapes:
        h, w, cin, cout = shape
        mine = {(r["n"], r["sparsity"]): r for r in rows if tuple(r["shape"]) == shape}
        dense = statistics.median(r["dense_ms"] for r in mine.values())
        cells = "".join(f" {mine[c]['ratio']:.2f} |" if c in mine else " - |" for c in configs)
        lines.append(f"| {h}x{w} | {cin}→{cout} | {h * w * cin * cout / 1e6:.1f} | {dense:.3f} |" + cells)
    geo = "".join(f" {layer_summary(rows, n, s, threads)['geomean']:.2f} |" for n, s in configs)
    wtd = "".join(f" {layer_summary(rows, n, s, threads)['weighted']:.2f} |" for n, s in configs)
    lines.append("| **geometric mean** | | | |" + geo)
    lines.append("| **time-weighted** | | | |" + wtd)
    return "\n".join(lines)


def plot(rows, layer_rows, path, title=""):
    """PNG: onexn/stock latency ratio vs sparsity (whole models: the all-passes median), one line per N; a
    column per model plus one for the MobileNetV2 1x1 layers (geometric mean), a row per thread count;
    issue 14's targets as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [dict(r, ratio=user_ratio(r)) for r in rows if weights_of(r) == ONE_SHOT]
    panels = [(m, [r for r in rows if r["model"] == m]) for m in MODEL_TITLES if any(r["model"] == m for r in rows)]
    if layer_rows:
        agg = []
        for n, s, t in sorted({(r["n"], r["sparsity"], r["threads"]) for r in layer_rows}):
            agg.append({"n": n, "sparsity": s, "threads": t, "ratio": layer_summary(layer_rows, n, s, t)["geomean"]})
        panels.append(("layers", agg))
    if not panels:
        raise ValueError("nothing to plot: no result rows")
    threads = sorted({r["threads"] for _, p in panels for r in p})
    ns = sorted({r["n"] for _, p in panels for r in p})
    colors = {n: plt.cm.viridis(0.9 * i / max(len(ns) - 1, 1)) for i, n in enumerate(ns)}
    fig, axes = plt.subplots(len(threads), len(panels), figsize=(3.8 * len(panels), 3.3 * len(threads)),
                             sharey=True, squeeze=False)
    for i, t in enumerate(threads):
        for ax, (name, prows) in zip(axes[i], panels):
            for n in ns:
                pts = sorted((r["sparsity"], r["ratio"]) for r in prows if r["n"] == n and r["threads"] == t)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=colors[n], label=f"N={n}")
            for target in TARGETS:
                n = target["n"]
                if target["kind"] == "model" and target["model"] == name and target["threads"] == t and n in colors:
                    ax.plot([target["sparsity"]], [target["target"]], "*", ms=12, color=colors[n], mec="black",
                            label=f"target N={n}")
            ax.axhline(1.0, color="grey", lw=0.8)
            label = MODEL_TITLES.get(name, "MobileNetV2 1x1 convs (geo. mean)")
            ax.set_title(f"{label}, {t} thread{'s' if t > 1 else ''}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(threads) - 1:
                ax.set_xlabel("block sparsity")
        axes[i][0].set_ylabel("latency onexn / stock")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 10), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)

def profile_for(results, target):
    for p in results.get("profiles", []):
        if p["case"] == target["case"]:
            return p
    return None


def profile_analysis(profile, row, target=None):
    """Markdown bullet lines explaining one profiled case: delegate nodes vs what the stock runtime kept."""
    t = profile["totals"]
    claimed_ratio = t["claimed_onexn_ms"] / t["claimed_stock_ms"] if t["claimed_stock_ms"] else float("nan")
    kept = ", ".join(f"{op} {v['ms']:.2f} ms ({v['nodes']})" for op, v in list(t["kept_by_op"].items())[:4])
    kinds = [f"{t[k]} {what}" for k, what in (("dense_nodes", "dense layers"), ("glue_nodes", "glue operators"))
             if t.get(k)]
    glue_note = f", {' and '.join(kinds)} among them" if kinds else ""
    lines = [f"- delegate nodes ({t['claimed_nodes']}{glue_note}), each timed alone: stock {t['claimed_stock_ms']:.2f} ms → "
             f"onexn {t['claimed_onexn_ms']:.2f} ms (**{claimed_ratio:.2f}**)",
             f"- left to the stock runtime ({t['kept_nodes']} nodes): {t['kept_stock_ms']:.2f} ms: {kept}"
             if t["kept_nodes"] else "- nothing left to the stock runtime: the delegate runs the whole graph"]
    if row is not None and row.get("onexn_ms"):
        parts = t["claimed_onexn_ms"] + t["kept_stock_ms"]
        stock_extra = row["dense_ms"] - t["claimed_stock_ms"] - t["kept_stock_ms"]
        onexn_extra = row["onexn_ms"] - parts
        lines.append(f"- end to end: stock {row['dense_ms']:.2f} ms (isolated ops sum to "
                     f"{t['claimed_stock_ms'] + t['kept_stock_ms']:.2f}), onexn {row['onexn_ms']:.2f} ms (isolated "
                     f"parts sum to {parts:.2f}; the kept part is {t['kept_stock_ms'] / row['onexn_ms']:.0%} of it)")
        partitions = profile.get("stock_partitions")
        ours = profile.get("onexn_partitions")
        ours = f"{ours} onexn partition(s)" if ours is not None else f"{t['claimed_nodes']} onexn nodes"
        split = (f"the graph runs as {ours} and {partitions} XNNPACK partition(s) instead "
                 "of one XNNPACK graph" if partitions is not None else "the graph is split between two delegates")
        lines.append(f"- time in no operator (whole model minus its isolated parts): stock {stock_extra:+.2f} ms, "
                     f"onexn {onexn_extra:+.2f} ms; {split}, and every hand-off between them (waking the other "
                     f"side's threads, colder caches) lands here")
        if target is not None and row["ratio"] > target:
            kept_ms = max(row["onexn_ms"] - t["claimed_onexn_ms"], 0.0)
            need = needed_claimed_ratio(target, row["dense_ms"], t["claimed_stock_ms"], kept_ms)
            if need is None:
                lines.append(f"- to reach {target:.2f}: the part outside the delegate's nodes ({kept_ms:.2f} ms) alone "
                             f"exceeds {target:.2f} × stock; the delegate has to take more of the graph")
            else:
                lines.append(f"- to reach {target:.2f} with everything else unchanged, the delegate's nodes must "
                             f"run at ≤ {need:.2f} of stock (now {claimed_ratio:.2f})")
    ops = [o for o in profile["ops"] if o["claimed"] and not o.get("glue")]
    worst = sorted(ops, key=lambda o: o["onexn_ms"] - claimed_ratio * o["stock_ms"], reverse=True)[:4]
    if worst:
        lines.append("- delegate nodes furthest behind the average: " + "; ".join(
            f"node {o['node']} {o['detail']} {o['stock_ms']:.3f} → {o['onexn_ms']:.3f} ms ({o['ratio']:.2f}, "
            f"`{o['kernel']}`)" for o in worst))
    return lines


def _machine_line(m):
    arch = f" (family {m['family']}, model {m['model']})" if m.get("family") else ""
    load = " / ".join(f"{v:.2f}" for v in m.get("load", []))
    end = " / ".join(f"{v:.2f}" for v in m.get("load_end", []))
    return (f"{m['cpu']}{arch}, {m['cores']} cores, SIMD: {' '.join(m.get('simd', []))}; "
            f"load average (1/5/15 min) {load} at start" + (f", {end} at the end" if end else ""))


def _dropped(results):
    rows = [r for r in results["models"] if "kept_passes" in r]
    dropped = sum(r["passes"] - r["kept_passes"] for r in rows)
    return f"{dropped} of {sum(r['passes'] for r in rows)} case-passes"


def markdown(results, plot_relpath, analysis=None):
    """BENCHMARKS.md from the results dict of benchmarks/run.py; ``analysis``: hand-written markdown placed
    after the targets (benchmarks/analysis.md: what was tried, why targets are missed, what would close them)."""
    rows = [r for r in results["models"] if r.get("ratio") is not None]
    layers = [r for r in results["layers"] if r.get("ratio") is not None]
    isa = next((r["isa"] for r in rows + layers if r.get("isa")), None)
    kernels = sorted({k for r in rows + layers for k in r.get("kernels", []) if k})
    v, s = results["versions"], results["settings"]
    out = ["# Benchmarks", "",
           "Latency of the onexn delegate against the stock TFLite runtime, measured side by side. Generated by "
           "`benchmarks/run.py` (do not edit by hand; rerun it).", "",
           f"- **Commit measured**: `{results.get('commit', 'not recorded')}`",
           f"- **Date**: {results['date']}; the sweep took {results.get('minutes', 0):.1f} minutes",
           f"- **Command**: `{results['command']}`",
           f"- **Machine**: {_machine_line(results['machine'])}",
           f"- **ISA the delegate used**: {isa or 'not run'}"
           + (f" (kernels {', '.join(f'`{k}`' for k in kernels)})" if kernels else ""),
           f"- **Software**: Python {v['python']}, TensorFlow {v['tensorflow']}, ai-edge-litert {v['ai-edge-litert']}, "
           f"tf-keras {v['tf-keras']}, onexn {v['onexn']}",
           "- **Method**: models as a user gets them: `keras.applications` with random weights (`weights=None`, "
           f"seed {s['seed']}) and the 1000-class softmax head they come with, pruned one-shot with "
           "`onexn_tf.apply_1xn(model, n, sparsity)` (the default `Prune1xNPolicy(n)`: the stem stays dense, "
           "layers whose output channels are not a multiple of N get a shorter last block) and converted with "
           "`onexn_tf.convert` with no `n=` (the converter detects each operator's N from its weights; it gets "
           "the weights as .tflite bytes, so without the note of N that `apply_1xn` leaves on the layers). "
           "**Trained-like** cases add the zeros of trained weights after pruning: in every pruned layer "
           "2% of the output channels (at least one) all zero, as a ReLU that never fires leaves them, and 1% "
           "of the kept weights zero (`benchmarks/models.py`, `trained_like`); their records must keep the N "
           "pruned with. Three variants per case, each "
           "with its own interpreter and the same random input: **stock** = `ai_edge_litert` Interpreter, "
           "default delegate (XNNPACK, dense weights), `num_threads=T`; **compact** = the same on the file from "
           "`onexn_tf.convert(..., compact=True)` (TFLite block-sparse encoding + DENSIFY); **onexn** = the "
           "stock-weight file with `onexn_tf.load_delegate(num_threads=T)` in front of XNNPACK. They run as two "
           "pairs, stock with onexn and then stock with compact, each pair interleaved in a random order per "
           "round (as `onexn bench` does) so that machine noise hits both, and no third interpreter's buffers "
           "evict the pair's between invokes; each ratio uses its own pair's stock time. Only `invoke()` is "
           "timed. "
           f"Whole models: median of {s['runs']} runs (per pass) after {s['warmup']} warm-up runs; single "
           f"convolutions: median of {s['layer_runs']} runs, measured once. Ratios are of medians, onexn / stock "
           "(below 1: onexn faster). "
           + (f"Whole models are measured in {s['passes']} passes over all cases, minutes apart. Each case has "
              "two figures, both the median of its per-pass ratios: **all passes**, over every timed pass, "
              "disturbed or not (re-measured attempts and make-up passes included; the range in brackets): what "
              "a user sees, and **the figure the targets are judged on**; and **undisturbed**, over the passes "
              "left after the filter below (how many of them in brackets)."
              if s.get("passes", 1) > 1 else "")
           + (f" A pass in which the stock runtime ran more than 10% slower than its fastest time on the same "
              "model and thread count anywhere in the sweep (its work does not depend on N or sparsity) counts "
              "as disturbed (on this shared host another tenant can take a core or the memory bandwidth "
              "without showing in /proc/stat: 2-thread stock runs at 1-thread speed were seen) and is left out "
              f"of the undisturbed figure; {_dropped(results)} were. A case with no undisturbed pass was measured "
              "again after the passes (up to 3 times), and if it never ran undisturbed, its passes within 10% "
              "of its own fastest are used."
              if any("kept_passes" in r for r in results["models"]) else ""),
           ]
    timed = [r for r in results["models"] if r.get("other_cpu") is not None]
    if timed:
        shares = sorted(r["other_cpu"] for r in timed)
        limit = s.get("max_other_cpu", 0.05)
        out.append(f"- **Interference**: the machine is shared; CPU time used by other processes during each "
                   f"whole-model measurement (from /proc/stat): median {statistics.median(shares):.1%}, max "
                   f"{shares[-1]:.0%}. A case above {limit:.0%} was measured again after waiting for quiet "
                   f"({sum(r.get('attempts', 1) - 1 for r in timed)} re-measurements in this run); "
                   f"{sum(v > limit for v in shares)} of {len(shares)} cases stayed above it. Single convolutions "
                   "run too briefly to tell; the sweep waits for quiet before each batch of them.")
    if results.get("delegate", "ok") != "ok":
        out += ["", f"**The onexn delegate was not available for this run** ({results['delegate']}): "
                "only the stock and compact columns were measured."]
    if rows or layers:
        out += ["", "## Targets (issue 14)", "",
                "onexn / stock XNNPACK dense in the same run; the result is judged on the median over **all** "
                "timed passes (what a user sees); the median over the undisturbed passes stands beside it.", "",
                targets_table(evaluate_targets(rows))]
        analysed = []
        for t in evaluate_targets(rows):
            p = profile_for(results, t)
            if p is None:
                continue
            row = find_row(rows, t["model"], t["n"], t["sparsity"], t["threads"])
            analysed.append(f"**{t['case']}** ({t['status']}):")
            analysed += profile_analysis(p, row, t["target"])
            analysed.append("")
        if analysed:
            out += ["", "### Where the time goes in the target cases", "",
                    "From `onexn bench --per-op`'s method (`onexn_tf.runtime.profile.per_op`): every operator cut out into "
                    "a single-op model and timed alone, stock vs onexn for the nodes the delegate claims. Isolated "
                    "times leave out fusion and cache effects between neighbours, so the parts do not add up "
                    "exactly to the end-to-end time.", ""] + analysed[:-1]
        trained = trained_like_table(rows)
        if trained:
            out += ["", "## Trained-like zeros: does N survive?", "",
                    "The same cases with dead output channels and stray zeros in kept blocks (see Method), "
                    "converted the same way. **N detected** is the set of N over the converter's records (bold "
                    "when it is not the N pruned with); the counts in brackets are the one-shot case's.", "", trained]
        out += ["", "## Do no harm: cases slower with the delegate (onexn/stock above 1.00)", ""]
        out += no_harm_lines(rows, layers)
        scaling = scaling_section(rows, results.get("scaling") or ())
        if scaling:
            out += ["", "## Two threads: each runtime's speedup", ""] + scaling
    if analysis:
        out += ["", analysis.strip()]
    for model in MODEL_TITLES:
        if any(r["model"] == model for r in results["models"]):
            out += ["", f"## {MODEL_TITLES[model]}, end to end", "",
                    model_table(results["models"], model, s.get("max_other_cpu", 0.05))]
            mine = [r for r in results["models"] if r["model"] == model and r.get("claimed") is not None]
            if mine:
                dense = sorted({r["dense_nodes"] for r in mine if "dense_nodes" in r})
                parts = sorted({r["partitions"] for r in mine if r.get("partitions") is not None})
                graph = (f"Dense CONV_2D / FULLY_CONNECTED layers the delegate ran besides the 1×N nodes: "
                         f"{', '.join(map(str, dense))}; onexn partitions: {', '.join(map(str, parts))} (over the "
                         "cases). " if dense and parts else "")
                out += ["", graph + "Largest relative output difference onexn vs stock (max |onexn - stock| / "
                        f"max |stock|, on the softmax outputs): {max(r['rel_diff'] for r in mine):.1e}."]
    if results["layers"]:
        out += ["", "## MobileNetV2 1×1 convolutions alone", "",
                "Each distinct 1×1 shape of MobileNetV2 1.0/224, cut out of the pruned model with its real weights "
                "and fused activation as a single-conv model. Cells: onexn / stock ratio; `stock ms` is the "
                "median over the configurations."]
        for t in sorted({r["threads"] for r in results["layers"]}):
            if any(r["threads"] == t and r.get("ratio") is not None for r in results["layers"]):
                out += ["", f"### {t} thread{'s' if t > 1 else ''}", "", layer_table(layers, t)]
    if results.get("periodic"):
        out += ["", "## Invokes apart: a model run periodically", ""] + periodic_section(results["periodic"])
    if results.get("int8"):
        out += ["", "## int8: onexn against XNNPACK's int8 kernels", ""] + \
            int8_section(results["int8"], s.get("max_other_cpu", 0.05))
    out += ["", "## Does XNNPACK's own sparse path engage?", ""] + xnnpack_section(results)
    if plot_relpath:
        out += ["", "## Plot", "", f"![onexn / stock latency ratio vs block sparsity]({plot_relpath})"]
    return "\n".join(out) + "\n"


def int8_section(rows, noisy=0.05):
    """Markdown lines for the int8 cases (run.py --int8): a row per case, the median over its passes."""
    targets = {(t["model"], t["n"], t["sparsity"], t["threads"]): t["target"] for t in INT8_TARGETS}
    cases = {}
    for r in rows:
        cases.setdefault((r["model"], r["n"], r["sparsity"], r["threads"]), []).append(r)
    passes = sorted({len(v) for v in cases.values()})
    lines = ["Each model pruned with the default policy (`apply_1xn(model, n, sparsity)`), converted with full "
             "integer quantization (int8 input and output, calibrated on 8 random inputs); **stock** = the stock "
             "runtime on that file (XNNPACK's int8 kernels, dense weights), **onexn** = the same file with the "
             "delegate, which runs the int8 1×N convolutions it estimates faster and the int8 depthwise, ADD, "
             "MEAN, MAX_POOL_2D, PAD and RESHAPE nodes next to them (the rest stays with XNNPACK, so the graph splits "
             "into the partitions counted). Measured once in each pass, after its float cases "
             f"({'/'.join(str(n) for n in passes)} passes); **onexn/stock** is the median of the per-pass ratios "
             "over all passes, disturbed or not (the range in brackets), what the targets are judged on; the "
             "times are the medians of the per-pass medians; max diff in quantization steps of the int8 output, "
             "over all passes.", "",
             "| model | N | sparsity | threads | stock ms | onexn ms | **onexn/stock** | target (issue 17) | "
             "delegate nodes | partitions | max diff |", "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for key in sorted(cases):
        group = cases[key]
        ratios = [r["ratio"] for r in group]
        ratio = statistics.median(ratios)
        spread = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
        noisy_mark = "".join(sorted({_mark(r, noisy) for r in group}))
        target = targets.get(key)
        verdict = "-" if target is None else f"≤ {target:.2f}: {'**met**' if ratio <= target else 'missed'}"
        first = group[0]
        lines.append(f"| {MODEL_TITLES.get(key[0], key[0])} | {key[1]} | {key[2]:.0%} | {key[3]} "
                     f"| {statistics.median(r['dense_ms'] for r in group):.2f} "
                     f"| {statistics.median(r['onexn_ms'] for r in group):.2f} | **{ratio:.2f}**{spread}{noisy_mark} "
                     f"| {verdict} | {first['claimed']} | {first['partitions']} | {max(r['max_steps'] for r in group)} |")
    return lines


def periodic_section(rows):
    """Markdown lines for the periodic cases (run.py PERIODIC): a row per case and interval, the median over
    its passes."""
    cases = {}
    for r in rows:
        cases.setdefault((r["model"], r["n"], r["sparsity"], r["threads"], r["interval_ms"]), []).append(r)
    lines = ["The same file, stock against onexn, each invoke that long after the one before (`onexn bench "
             "--interval-ms`), as when an application runs the model periodically (30 ms: 30 frames a second). "
             "Both runtimes' worker threads go idle in between: XNNPACK's spin for milliseconds before they sleep, "
             "onexn's up to 10 ms, and on a virtual machine a thread that slept can take milliseconds to run again. "
             "The two sides take turns of 5 invokes, the first of each untimed (an application runs one runtime; "
             "the other's threads may still spin from its turn), 4 turns each. **onexn/stock** is the median of "
             "the per-pass ratios (range in brackets); do no harm asks for at most 1.00.", "",
             "| model | N | sparsity | threads | invokes apart | stock ms | onexn ms | **onexn/stock** |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key in sorted(cases):
        group = cases[key]
        ratios = [r["ratio"] for r in group]
        spread = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
        lines.append(f"| {MODEL_TITLES.get(key[0], key[0])} | {key[1]} | {key[2]:.0%} | {key[3]} | {key[4]:g} ms "
                     f"| {statistics.median(r['dense_ms'] for r in group):.2f} "
                     f"| {statistics.median(r['onexn_ms'] for r in group):.2f} "
                     f"| **{statistics.median(ratios):.2f}**{spread} |")
    return lines


def xnnpack_section(results):
    every = results["models"] + results["layers"]
    lines = []
    if every:
        ratios = sorted(r["compact_ratio"] for r in every)
        same = sum(r["compact_identical"] for r in every)
        lines.append(f"Compact file vs dense file on the stock runtime, over all {len(every)} cases above: ratio "
                     f"median {statistics.median(ratios):.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f}); outputs "
                     f"bit-identical to the dense file's in {same} of {len(every)} cases.")
    probe = results.get("xnnpack_probe")
    if probe:
        lines.append("")
        lines.append(f"A probe model built the way XNNPACK's sparse inference wants it (3×3 stride-2 stem over 3 "
                     f"channels with explicit padding 1, three 1×1 convolutions with 90% zero weights, global average "
                     f"pooling; compact encoding so that DENSIFY marks the weights sparse): dense "
                     f"{probe['dense_ms']:.2f} ms, compact {probe['compact_ms']:.2f} ms (ratio "
                     f"{probe['compact_ratio']:.2f}), outputs bit-identical: {probe['compact_identical']}.")
    lines.append("")
    lines.append("So: **no**. The compact encoding only shrinks the file; DENSIFY restores dense weights at load "
                 "time and XNNPACK runs its dense kernels (same latency, bit-identical outputs; a sparse NCHW "
                 "kernel would sum in another order). Two reasons, either sufficient: XNNPACK only considers "
                 "sparse (NCHW) inference on x86 when the CPU has no AVX (`xnn_is_chw_compatible_config` in "
                 "XNNPACK's `src/xnnpack/hardware-config.h`: its sparse microkernels target SSE and dense is "
                 "expected to win with AVX), and Keras' MobileNet/ResNet graphs do not match its pattern anyway "
                 "(TF 'SAME'-padded stem and depthwise convolutions in the MobileNets; ResNet-50 starts with a 7×7 "
                 "convolution and has 3×3 and strided 1×1 ones). "
                 "On ARM, XNNPACK's sparse path can engage for MobileNet-like graphs with > 2/3 zero 1×1 weights.")
    return lines


def write_report(results, out_path, plot_path, analysis_path=None):
    """Writes the markdown report and, when there are onexn results, the PNG plot."""
    import os

    analysis = None
    if analysis_path and os.path.exists(analysis_path):
        with open(analysis_path) as f:
            analysis = f.read()
    rows = [r for r in results["models"] if r.get("ratio") is not None]
    layers = [r for r in results["layers"] if r.get("ratio") is not None]
    rel = None
    if rows or layers:
        os.makedirs(os.path.dirname(os.path.abspath(plot_path)), exist_ok=True)
        isa = next((r["isa"] for r in rows + layers if r.get("isa")), None)
        plot(rows, layers, plot_path,
             title=f"latency onexn / stock XNNPACK dense (lower is better), {results['machine']['cpu']}, "
                   f"{results['machine']['cores']} cores, onexn kernels {isa}")
        rel = os.path.relpath(plot_path, os.path.dirname(os.path.abspath(out_path)) or ".")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(markdown(results, rel, analysis))
