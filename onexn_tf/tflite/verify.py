"""The onexn records of a model checked against its real operators and weights, which is what a runtime
must do before trusting one.

``read_metadata(tflite)`` returns the records of a model; ``verify(tflite)`` also checks each one.
"""

from dataclasses import dataclass

import numpy as np

from onexn_tf import blocks
from onexn_tf.tflite import graph, int8, sparse
from onexn_tf.tflite.metadata import (CONV_2D, ENCODING_DENSE, ENTRY_NAME, KNOWN_OPS, KNOWN_WEIGHT_TYPES,
                                      WEIGHT_INT8, MetadataError, Record, parse_entry, weight_crc32)


def entry_bytes(model):
    """The ``onexn_1xn`` entry of a ModelT as bytes, or None. MetadataError if it is listed twice or empty."""
    found = [m for m in (model.metadata or []) if graph.name_of(m) == ENTRY_NAME]
    if not found:
        return None
    if len(found) > 1:
        raise MetadataError(f"the model has {len(found)} metadata entries named {ENTRY_NAME!r}")
    if not 0 <= found[0].buffer < len(model.buffers) or model.buffers[found[0].buffer].data is None:
        raise MetadataError(f"the {ENTRY_NAME!r} metadata entry points to a missing or empty buffer")
    return np.asarray(model.buffers[found[0].buffer].data, dtype=np.uint8).tobytes()


def read_metadata(tflite):
    """The onexn records of a .tflite model (bytes or path), or [] when it has no onexn entry.

    Raises MetadataError (a ValueError) for a damaged entry or an unknown version, and ValueError when
    the bytes are not a TFLite model.
    """
    data = entry_bytes(graph.read_model(tflite))
    return [] if data is None else parse_entry(data)


@dataclass
class Check:
    """What ``verify`` found for one record: an empty ``problems`` list means the record matches."""

    record: Record
    problems: list

    @property
    def ok(self):
        return not self.problems


def verify(tflite):
    """Checks every record of a model against its real operators and weights.

    Returns one Check per record (records with an unknown op or encoding included, reported as problems).
    Raises MetadataError when the entry itself is damaged, ValueError when the bytes are not a model.
    """
    model = graph.read_model(tflite)
    data = entry_bytes(model)
    if data is None:
        return []
    return [Check(r, check_record(model, r)) for r in parse_entry(data, keep_unknown=True)]


def check_record(model, record):
    """Problems (list of strings) of one record against a ModelT; empty when it matches."""
    if not record.known:
        return [f"{record.unknown_reason()}: readers skip this record"]
    weight, problems = record_weight(model, record)
    if weight is None:
        return problems
    if weight_crc32(weight) != record.weight_crc32:
        problems.append("weight CRC-32 differs from the record (the weights changed after conversion)")
    outside = np.argwhere(blocks.kept_map(weight, record.n) & ~record.kept_blocks().T)
    if outside.size:
        g, c = outside[0]
        problems.append(f"{len(outside)} blocks outside the kept index hold non-zero weights "
                        f"(first: group {g}, input channel {c})")
    return problems


def record_weight(model, record):
    """(dense float32 or int8 weight the record describes, problems). The weight is None when it cannot be
    found. An int8 record's operator must also be one format v2 describes (``int8.problems``)."""
    if record.subgraph >= len(model.subgraphs):
        return None, [f"subgraph {record.subgraph} does not exist"]
    subgraph = model.subgraphs[record.subgraph]
    operators = subgraph.operators or []
    if record.operator >= len(operators):
        return None, [f"operator {record.operator} does not exist (the subgraph has {len(operators)})"]
    op = operators[record.operator]
    code = graph.builtin_code(model, op)
    if code != record.builtin_op:
        return None, [f"operator {record.operator} is builtin {code}, the record says "
                      f"{KNOWN_OPS[record.builtin_op]}"]
    if op.inputs is None or len(op.inputs) < 2 or int(op.inputs[1]) != record.weight_tensor:
        return None, [f"the weight input of operator {record.operator} is not tensor {record.weight_tensor}"]
    if record.weight_tensor >= len(subgraph.tensors):
        return None, [f"tensor {record.weight_tensor} does not exist"]
    tensor = subgraph.tensors[record.weight_tensor]
    shape = [int(d) for d in (tensor.shape if tensor.shape is not None else [])]
    expected = graph.INT8 if record.weight_type == WEIGHT_INT8 else graph.FLOAT32
    if tensor.type != expected or shape != record.weight_shape():
        kind = graph.TYPE_NAMES.get(tensor.type, f"type {tensor.type}").lower()
        return None, [f"weight tensor is {kind} {shape}, the record says "
                      f"{KNOWN_WEIGHT_TYPES[record.weight_type]} {record.weight_shape()}"]
    x = subgraph.tensors[op.inputs[0]] if record.builtin_op == CONV_2D and op.inputs[0] >= 0 else None
    if x is not None and x.shape is not None and len(x.shape) == 4 and int(x.shape[3]) not in (-1, record.cin):
        return None, [f"operator {record.operator} is a grouped convolution ({int(x.shape[3])} input channels, "
                      f"filter cin {record.cin}), which the format does not describe"]
    if record.encoding == ENCODING_DENSE:
        weight = graph.constant(model, tensor)
        if weight is None:
            return None, [f"weight tensor is not a dense {KNOWN_WEIGHT_TYPES[record.weight_type]} constant, as "
                          "encoding 0 requires"]
        return weight, int8.problems(model, subgraph, op, record.cout) if record.weight_type == WEIGHT_INT8 else []
    producer = graph.producers(subgraph).get(record.weight_tensor)
    if producer is None or graph.builtin_code(model, operators[producer]) != graph.DENSIFY:
        return None, ["encoding 1 but the weight tensor is not the output of a DENSIFY operator"]
    if producer > record.operator:
        return None, [f"the DENSIFY operator {producer} runs after operator {record.operator}"]
    source = subgraph.tensors[operators[producer].inputs[0]]
    values = graph.buffer_bytes(model, source)
    if source.type != graph.FLOAT32 or source.sparsity is None or values is None:
        return None, ["the DENSIFY input is not a sparse float32 constant"]
    try:
        n, group_ptr, kept_cin = sparse.layout(source.sparsity, shape)
        weight = sparse.decode(values, source.sparsity, shape)
    except ValueError as e:
        return None, [f"sparse weight: {e}"]
    flat = np.concatenate([np.zeros(0, np.int64)] + list(record.kept_cin))
    if n != record.n or not np.array_equal(group_ptr, record.group_ptr) or not np.array_equal(kept_cin, flat):
        return weight, [f"the sparse weight's block index (n={n}) differs from the record's (n={record.n})"]
    return weight, []
