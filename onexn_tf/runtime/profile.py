"""Where the time goes: each operator of a model cut out into a single-op model and timed alone.

The onexn delegate does not time its nodes, and the ``ai_edge_litert`` Python interpreter exposes no
profiler, so ``per_op`` measures every operator of the main subgraph in isolation: the operator with its
constant inputs, its other inputs turned into model inputs. The stock runtime (XNNPACK) runs every such
model; for the nodes the delegate claims in the full model, the same single-op model with onexn metadata
runs with the delegate too, interleaved with the stock one. Isolated times miss what fusion and cache
reuse between neighbouring operators give, and add a per-invoke overhead of a few microseconds each, so
their sum is close to, not equal to, the end-to-end time.
"""

import copy
import dataclasses

import numpy as np

from onexn_tf.runtime import bench
from onexn_tf.tflite import graph, sparse
from onexn_tf.tflite.annotate import annotate
from onexn_tf.tflite.graph import schema
from onexn_tf.tflite.verify import read_metadata


def _model(tflite_or_model):
    return tflite_or_model if isinstance(tflite_or_model, schema.ModelT) else graph.read_model(tflite_or_model)


def _densified(model, subgraph, tensor_index):
    """The dense float32 value of a tensor that a DENSIFY operator makes from a constant, else None."""
    producer = graph.producers(subgraph).get(tensor_index)
    if producer is None:
        return None
    op = subgraph.operators[producer]
    if graph.builtin_code(model, op) != graph.DENSIFY:
        return None
    source = subgraph.tensors[op.inputs[0]]
    values = graph.buffer_bytes(model, source)
    if source.type != graph.FLOAT32 or source.sparsity is None or values is None:
        return None
    shape = [int(d) for d in subgraph.tensors[tensor_index].shape]
    return sparse.decode(values, source.sparsity, shape)


def single_op_model(tflite_or_model, op_index):
    """A .tflite model (bytes) holding only operator `op_index` of the main subgraph.

    Constant inputs are copied (a weight made by DENSIFY is stored dense); every other input becomes a
    model input, the operator's outputs the model outputs. No metadata is copied: add onexn metadata with
    ``onexn_tf.tflite.annotate.annotate(single_op_bytes, n=...)``.
    """
    model = _model(tflite_or_model)
    subgraph = model.subgraphs[0]
    operators = subgraph.operators or []
    if isinstance(op_index, bool) or not isinstance(op_index, (int, np.integer)) or not 0 <= op_index < len(operators):
        raise ValueError(f"op_index must be an operator index in [0, {len(operators)}), got {op_index!r}")
    op = operators[op_index]
    code = graph.builtin_code(model, op)
    if code == graph.DENSIFY:
        raise ValueError(f"operator {op_index} is DENSIFY: it runs once, on the first invoke, and is not timed alone")
    new = schema.ModelT()
    new.version = 3
    new.description = f"operator {op_index} of a larger model"
    new.buffers = [schema.BufferT()]
    new.operatorCodes = [copy.deepcopy(model.operatorCodes[op.opcodeIndex])]
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.name = [], [], [], "single_op"
    remap = {}

    def add(t, data=None, dense_value=None):
        if t in remap:
            return remap[t]
        tensor = copy.deepcopy(subgraph.tensors[t])
        tensor.buffer = 0
        if dense_value is not None:
            data = np.ascontiguousarray(dense_value, dtype="<f4").tobytes()
            tensor.sparsity = None
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(data, dtype=np.uint8)
            new.buffers.append(buffer)
            tensor.buffer = len(new.buffers) - 1
        sg.tensors.append(tensor)
        remap[t] = len(sg.tensors) - 1
        return remap[t]

    new_inputs = []
    for t in (op.inputs if op.inputs is not None else []):
        t = int(t)
        if t < 0:
            new_inputs.append(-1)
            continue
        data = graph.buffer_bytes(model, subgraph.tensors[t])
        dense = None if data is not None else _densified(model, subgraph, t)
        index = add(t, data=data, dense_value=dense)
        if data is None and dense is None and index not in sg.inputs:
            sg.inputs.append(index)
        new_inputs.append(index)
    new_outputs = [add(int(t)) for t in op.outputs]
    sg.outputs = list(new_outputs)
    new_op = copy.deepcopy(op)
    new_op.opcodeIndex = 0
    new_op.inputs, new_op.outputs, new_op.intermediates = new_inputs, new_outputs, None
    sg.operators = [new_op]
    new.subgraphs = [sg]
    return graph.write_model(new)


def describe(model, op):
    """Short shape summary of an operator, e.g. '1x1/1 56x56x24->144'."""
    subgraph = model.subgraphs[0]
    code = graph.builtin_code(model, op)

    def shape(t):
        return [int(d) for d in subgraph.tensors[t].shape] if t >= 0 and subgraph.tensors[t].shape is not None else []

    x, y = shape(op.inputs[0]) if op.inputs is not None and len(op.inputs) else [], shape(op.outputs[0])
    opts = op.builtinOptions
    if code in (graph.CONV_2D, graph.DEPTHWISE_CONV_2D) and len(x) == 4 and len(y) == 4:
        w = shape(op.inputs[1])
        k = f"{w[1]}x{w[2]}" if len(w) == 4 else "?"
        return f"{k}/{getattr(opts, 'strideH', 1)} {x[1]}x{x[2]}x{x[3]}->{y[3]}"
    if code == graph.FULLY_CONNECTED and y:
        return f"{x[-1] if x else '?'}->{y[-1]}"
    return "x".join(map(str, y)) if y else ""


@dataclasses.dataclass
class OpTime:
    """One operator, timed alone: stock runtime, and onexn when the delegate claims it in the full model."""

    node: int
    op: str
    detail: str
    claimed: bool
    kernel: str
    n: int
    block_sparsity: float
    stock_ms: float
    onexn_ms: float  # None when not claimed
    glue: bool = False  # another operator the delegate runs between its 1xN nodes (DEPTHWISE_CONV_2D, ADD, ...)
    dense: bool = False  # a CONV_2D / FULLY_CONNECTED without a record, which the delegate runs dense

    @property
    def ratio(self):
        return None if self.onexn_ms is None else self.onexn_ms / self.stock_ms


@dataclasses.dataclass
class PerOpProfile:
    """``per_op`` result: one row per timed operator, plus what the delegate declined and why."""

    rows: list
    declined: list
    threads: int
    runs: int
    stock_partitions: int = None  # delegate kernels the stock runtime (XNNPACK) runs next to onexn's nodes
    onexn_partitions: int = None  # delegate kernels onexn's claimed nodes form

    def totals(self):
        """Sums over the rows: claimed nodes (stock, onexn) and kept nodes per op type (stock)."""
        claimed = [r for r in self.rows if r.claimed]
        glue = [r for r in self.rows if r.glue]
        dense = [r for r in self.rows if r.dense]
        kept = {}
        for r in self.rows:
            if not r.claimed:
                ms, count = kept.get(r.op, (0.0, 0))
                kept[r.op] = (ms + r.stock_ms, count + 1)
        return {
            "claimed_nodes": len(claimed),
            "glue_nodes": len(glue),
            "dense_nodes": len(dense),
            "claimed_stock_ms": sum(r.stock_ms for r in claimed),
            "claimed_onexn_ms": sum(r.onexn_ms for r in claimed),
            "kept_nodes": sum(c for _, c in kept.values()),
            "kept_stock_ms": sum(ms for ms, _ in kept.values()),
            "kept_by_op": {op: {"ms": ms, "nodes": c}
                           for op, (ms, c) in sorted(kept.items(), key=lambda kv: -kv[1][0])},
        }

    def as_dict(self):
        return {"threads": self.threads, "runs": self.runs, "stock_partitions": self.stock_partitions,
                "onexn_partitions": self.onexn_partitions,
                "ops": [dict(dataclasses.asdict(r), ratio=r.ratio) for r in self.rows],
                "declined": self.declined, "totals": self.totals()}

    def format(self):
        """The profile as a text table with a summary."""
        head = (f"{'node':>4}  {'op':18} {'shape':24} {'1xN':>9}  {'kernel':30} "
                f"{'stock ms':>9} {'onexn ms':>9} {'ratio':>6}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            blocks = f"1x{r.n} {r.block_sparsity:.0%}" if r.n else ""
            onexn = f"{r.onexn_ms:9.3f} {r.ratio:6.2f}" if r.claimed else f"{'-':>9} {'':>6}"
            lines.append(f"{r.node:>4}  {r.op[:18]:18} {r.detail[:24]:24} {blocks:>9}  {(r.kernel or '')[:30]:30} "
                         f"{r.stock_ms:9.3f} {onexn}")
        t = self.totals()
        ratio = t["claimed_onexn_ms"] / t["claimed_stock_ms"] if t["claimed_stock_ms"] else float("nan")
        lines.append("")
        kinds = [f"{t[k + '_nodes']} {what}" for k, what in (("dense", "dense layers"), ("glue", "glue operators"))
                 if t.get(k + "_nodes")]
        glue = f" ({', '.join(kinds)} among them)" if kinds else ""
        lines.append(f"claimed by onexn: {t['claimed_nodes']} nodes{glue}, stock {t['claimed_stock_ms']:.3f} ms -> "
                     f"onexn {t['claimed_onexn_ms']:.3f} ms (ratio {ratio:.2f})")
        if self.onexn_partitions is not None:
            lines.append(f"onexn runs its nodes as {self.onexn_partitions} partition(s)")
        kept = ", ".join(f"{op} {v['ms']:.3f} ms ({v['nodes']})" for op, v in t["kept_by_op"].items())
        lines.append(f"kept on the stock runtime: {t['kept_nodes']} nodes, {t['kept_stock_ms']:.3f} ms: {kept}")
        if self.stock_partitions is not None:
            lines.append(f"the stock runtime runs those as {self.stock_partitions} separate XNNPACK partitions "
                         "(one hand-off each way per partition)")
        for d in self.declined:
            lines.append(f"declined node {d.get('node')} {d.get('op', '')}: {d.get('reason', '')}")
        return "\n".join(lines)


def per_op(tflite, *, threads=1, runs=20, warmup=5, seed=0, progress=False, delegate=True, **delegate_options):
    """Times every operator of the main subgraph alone (see the module docstring); a ``PerOpProfile``.

    With ``delegate=True`` (default) it needs the onexn delegate (``bench.DelegateUnavailable``
    otherwise): its report on the full model says which nodes it claims, with which kernel, and those
    nodes are timed with it too. ``delegate=False`` times the stock runtime only.
    """
    data = graph.as_bytes(tflite)
    threads = bench.check_int("threads", threads, 1)
    runs = bench.check_int("runs", runs, 1)
    warmup = bench.check_int("warmup", warmup, 0)
    if not delegate and delegate_options:
        raise ValueError(f"delegate options {sorted(delegate_options)} need delegate=True")
    report = bench.delegate_summary(data, threads, **delegate_options) if delegate else {}
    claimed = {int(n) for n in report.get("claimed_nodes", [])}
    glue = {int(n) for n in report.get("glue_nodes", [])}
    dense = {int(n) for n in report.get("dense_nodes", [])}
    kernels = {int(k["node"]): k.get("kernel", "")
               for key in ("kernels", "dense_kernels", "glue_kernels") for k in report.get(key, [])}
    model = graph.read_model(data)
    records = {r.operator: r for r in read_metadata(data) if r.subgraph == 0}
    operators = model.subgraphs[0].operators or []
    bar = bench.progress_bar(len(operators), progress, "per-op", unit="op")
    rows = []
    try:
        for i, op in enumerate(operators):
            bar.update(1)
            code = graph.builtin_code(model, op)
            if code == graph.DENSIFY:
                continue
            single = single_op_model(model, i)
            variants = [bench.Variant("stock", single)]
            record = records.get(i)
            if i in claimed:
                if record is None:
                    raise ValueError(f"the delegate claims node {i}, which has no onexn record")
                annotated = annotate(single, n=record.n)
                # Alone, a node that gains too little by the cost model (every block, or at several threads a
                # small saving) would leave its graph to the stock runtime; glue=all keeps it, same choice.
                alone = dict(delegate_options, glue="all") if delegate_options.get("glue", "auto") == "auto" \
                    else dict(delegate_options)
                if not bench.delegate_summary(annotated, threads, **alone).get("claimed"):
                    raise RuntimeError(f"the delegate claims node {i} in the full model but not alone")
                variants.append(bench.Variant("onexn", annotated, True, alone))
            elif i in glue or i in dense:
                # Alone, a glue operator or dense layer has no 1xN neighbour: glue=all makes the delegate take it.
                variants.append(bench.Variant("onexn", single, True, dict(delegate_options, glue="all")))
            run_by_onexn = i in claimed or i in glue or i in dense
            m = bench.measure(variants, threads=threads, runs=runs, warmup=warmup, seed=seed)
            rows.append(OpTime(
                node=i, op=graph.OPERATOR_NAMES.get(code, str(code)), detail=describe(model, op), claimed=run_by_onexn,
                kernel=kernels.get(i, ""), n=record.n if record else 0,
                block_sparsity=record.block_sparsity if record else 0.0,
                stock_ms=m.timings["stock"].median_ms,
                onexn_ms=m.timings["onexn"].median_ms if run_by_onexn else None, glue=i in glue, dense=i in dense))
    finally:
        bar.close()
    return PerOpProfile(rows=rows, declined=list(report.get("declined", [])), threads=threads, runs=runs,
                        stock_partitions=_stock_partitions(data, threads, report.get("partitions", len(claimed)),
                                                           delegate_options) if delegate else None,
                        onexn_partitions=report.get("partitions") if delegate else None)


def _stock_partitions(data, threads, onexn_partitions, delegate_options):
    """How many delegate kernels besides onexn's the runtime runs (XNNPACK partitions), or None if the
    interpreter does not tell (it is read through ai_edge_litert's private op listing)."""
    interpreter = bench.make_interpreter(data, delegate=True, threads=threads, **delegate_options)
    try:
        ops = interpreter._get_ops_details()
    except Exception:  # a private API: absent in some runtime versions
        return None
    return sum(op.get("op_name") == "DELEGATE" for op in ops) - onexn_partitions
