"""``onexn inspect MODEL.tflite [--json]``: the 1xN view of a .tflite file.

One row per CONV_2D / FULLY_CONNECTED operator: weight shape, the onexn record (N, block sparsity,
encoding), bytes the weight takes dense vs in the file, and whether the record matches the real weights.
Exit status: 0 all good (a model without onexn metadata included), 1 the metadata is damaged or a record
does not match its weights, 2 the file is not a readable TFLite model.
"""

import json
import sys

from onexn_tf.tflite import graph, metadata, verify

EXIT_OK, EXIT_MISMATCH, EXIT_NOT_A_MODEL = 0, 1, 2


def add_arguments(parser):
    parser.add_argument("model", help="path of a .tflite file")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")


def run(args):
    report = inspect_file(args.model)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    if report["entry"] is None:
        return EXIT_NOT_A_MODEL
    return EXIT_OK if report["ok"] else EXIT_MISMATCH


def inspect_file(path):
    """The inspect report of a .tflite file as a JSON-ready dict (never raises on a bad file)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return _failed(path, None, f"cannot read {path}: {e.strerror or e}")
    return inspect_bytes(data, path)


def inspect_bytes(data, name="<bytes>"):
    """The inspect report of .tflite bytes; see ``inspect_file``."""
    try:
        model = graph.read_model(data)
    except ValueError as e:
        return _failed(name, len(data), str(e))
    entry = {"present": False, "records": 0, "error": None}
    checks = {}
    try:
        raw = verify.entry_bytes(model)
        if raw is not None:
            entry["present"] = True
            for record in metadata.parse_entry(raw, keep_unknown=True):
                problems = verify.check_record(model, record)
                checks[(record.subgraph, record.operator)] = verify.Check(record, problems)
            entry["records"] = len(checks)
    except metadata.MetadataError as e:
        entry["error"] = str(e)
    layers = [_layer_row(model, w, checks.pop((w.subgraph, w.operator), None)) for w in graph.weight_ops(model)]
    layers += [_orphan_row(c) for c in checks.values()]  # records that point at no CONV_2D / FC operator
    layers.sort(key=lambda row: (row["subgraph"], row["operator"]))
    problems = sum(len(row["problems"]) for row in layers)
    totals = {
        "layers": len(layers),
        "recorded": sum(row["n"] is not None for row in layers),
        "dense_bytes": sum(row["dense_bytes"] or 0 for row in layers),
        "stored_bytes": sum(row["stored_bytes"] or 0 for row in layers),
        "file_bytes": len(data),
        "problems": problems,
    }
    ok = entry["error"] is None and problems == 0
    return {"file": name, "ok": ok, "error": entry["error"], "entry": entry, "layers": layers, "totals": totals}


def _failed(name, size, error):
    totals = {"layers": 0, "recorded": 0, "dense_bytes": 0, "stored_bytes": 0, "file_bytes": size, "problems": 0}
    return {"file": name, "ok": False, "error": error, "entry": None, "layers": [], "totals": totals}


def _layer_row(model, wop, check):
    subgraph = model.subgraphs[wop.subgraph]
    tensor = subgraph.tensors[wop.weight_tensor]
    shape = [int(d) for d in (tensor.shape if tensor.shape is not None else [])]
    elements = 1
    for d in shape:
        elements *= d
    row = {
        "subgraph": wop.subgraph, "operator": wop.operator, "op": wop.op_name, "weight_tensor": wop.weight_tensor,
        "shape": shape, "dtype": _dtype_name(tensor.type),
        "dense_bytes": elements * _itemsize(tensor.type) or None,
        "stored_bytes": _stored_bytes(model, subgraph, wop.weight_tensor),
        "n": None, "block_sparsity": None, "encoding": None, "matches": None, "problems": [],
    }
    if check is not None:
        _add_record(row, check)
    return row


def _orphan_row(check):
    r = check.record
    row = {"subgraph": r.subgraph, "operator": r.operator, "op": "?", "weight_tensor": r.weight_tensor,
           "shape": r.weight_shape(), "dtype": "?", "dense_bytes": None, "stored_bytes": None,
           "n": None, "block_sparsity": None, "encoding": None, "matches": None, "problems": []}
    _add_record(row, check)
    return row


def _add_record(row, check):
    r = check.record
    row.update(n=r.n, block_sparsity=round(r.block_sparsity, 4),
               encoding=metadata.KNOWN_ENCODINGS.get(r.encoding, f"unknown ({r.encoding})"),
               matches=check.ok, problems=list(check.problems))


def _dtype_name(tensor_type):
    name = graph.TYPE_NAMES.get(tensor_type)
    return f"type{tensor_type}" if name is None else name.lower()


_ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2,
             "int32": 4, "int64": 8}


def _itemsize(tensor_type):
    """Bytes per element of a weight tensor type (0 for types a weight is not stored in, or packed int4)."""
    return _ITEMSIZE.get(_dtype_name(tensor_type), 0)


def _stored_bytes(model, subgraph, tensor_index):
    """Bytes the file spends on a weight: its buffer, or what feeds the DENSIFY / DEQUANTIZE producing it."""
    tensor = subgraph.tensors[tensor_index]
    own = graph.buffer_bytes(model, tensor)
    if own is not None:
        return len(own) + _index_bytes(tensor)
    producer = graph.producers(subgraph).get(tensor_index)
    if producer is None:
        return None
    op = subgraph.operators[producer]
    if graph.builtin_code(model, op) not in (graph.DENSIFY, graph.DEQUANTIZE):
        return None
    source = subgraph.tensors[op.inputs[0]]
    data = graph.buffer_bytes(model, source)
    return None if data is None else len(data) + _index_bytes(source)


def _index_bytes(tensor):
    """Bytes of a sparse tensor's CSR segment and index arrays (int32 / uint16 / uint8)."""
    if tensor.sparsity is None:
        return 0
    sizes = {1: 4, 2: 2, 3: 1}
    total = 0
    for dim in tensor.sparsity.dimMetadata or []:
        for kind, vec in ((dim.arraySegmentsType, dim.arraySegments), (dim.arrayIndicesType, dim.arrayIndices)):
            if vec is not None and vec.values is not None:
                total += sizes.get(kind, 4) * len(vec.values)
    return total


def _fmt_bytes(value):
    return "-" if value is None else f"{value:,}"


def format_table(report):
    """The human-readable table of a report."""
    lines = [f"{report['file']}"]
    if report["entry"] is None:
        lines.append(f"error: {report['error']}")
        return "\n".join(lines)
    entry = report["entry"]
    if entry["error"]:
        lines.append(f"onexn metadata: DAMAGED - {entry['error']}")
    elif entry["present"]:
        lines.append(f"onexn metadata: {entry['records']} records")
    else:
        lines.append("onexn metadata: none")
    header = ["op", "type", "weight shape", "N", "sparsity", "dense B", "stored B", "encoding", "matches"]
    rows = []
    for row in report["layers"]:
        where = f"{row['operator']}" if row["subgraph"] == 0 else f"{row['subgraph']}:{row['operator']}"
        matches = "-" if row["matches"] is None else ("yes" if row["matches"] else "NO: " + "; ".join(row["problems"]))
        rows.append([where, row["op"], "x".join(map(str, row["shape"])) + ("" if row["dtype"] == "float32" else
                                                                            f" {row['dtype']}"),
                     "-" if row["n"] is None else str(row["n"]),
                     "-" if row["block_sparsity"] is None else f"{row['block_sparsity']:.1%}",
                     _fmt_bytes(row["dense_bytes"]), _fmt_bytes(row["stored_bytes"]),
                     row["encoding"] or "-", matches])
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header) - 1)]
    for r in [header] + rows:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + r[-1])
    t = report["totals"]
    ratio = f" ({t['stored_bytes'] / t['dense_bytes']:.1%} of dense)" if t["dense_bytes"] else ""
    lines.append(f"total: {t['layers']} layers, {t['recorded']} with 1xN records, weights {t['dense_bytes']:,} B "
                 f"dense, {t['stored_bytes']:,} B stored{ratio}, file {t['file_bytes']:,} B, "
                 f"{t['problems']} problems")
    return "\n".join(lines)


def main(argv=None):
    """Runs the subcommand on its own (``python -m onexn_tf.cli.inspect``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="onexn inspect", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
