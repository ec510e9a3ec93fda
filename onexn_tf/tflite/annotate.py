"""Adds the ``onexn_1xn`` metadata entry (docs/FORMAT.md), and on request TFLite's block-sparse encoding, to
a float32 or int8 .tflite model: the part of ``onexn_tf.convert`` after TensorFlow's converter (no TensorFlow
here).
"""

import warnings

import numpy as np

from onexn_tf import blocks
from onexn_tf.tflite import graph, int8, metadata, sparse
from onexn_tf.tflite.graph import schema

DENSIFY_RUNTIME = "2.2.0"  # first TFLite release with the DENSIFY operator


def annotate(tflite, *, compact=False, n=None, hints=None):
    """Adds the onexn entry (and with ``compact`` the sparse encoding) to float32 or int8 .tflite bytes.

    See ``convert`` for ``compact`` and ``n``. ``hints``: {weight tensor name: the N its layer was pruned
    with}, preferred by detection where it explains the zeros. ValueError if the model already has an onexn
    entry. Warns about 1xN-sparse int8 weights that get no record because onexn does not run their operator
    (``onexn_tf.tflite.int8.problems``).
    """
    hints = hints or {}
    default, by_name = _resolve_n(n)
    model = graph.read_model(tflite)
    names = [graph.name_of(m) for m in (model.metadata or [])]
    if any(name.startswith("onexn") for name in names):
        raise ValueError("the model already has onexn metadata; convert the Keras model again instead")
    plans, matched, declined = [], set(), {}
    for wop in graph.weight_ops(model):
        subgraph = model.subgraphs[wop.subgraph]
        tensor = subgraph.tensors[wop.weight_tensor]
        weight = graph.constant(model, tensor)
        if not _describable(subgraph, wop, weight):
            continue
        rounding = 0
        if weight.dtype == np.int8:
            rounding = blocks.quantized_rounding_zeros(blocks.ohwi_to_hwio(blocks.to_ohwi(weight)))
            why = int8.problems(model, subgraph, wop.op, weight.shape[0])
            if why:
                if choose_n(weight, rounding_zeros=rounding) is not None:
                    declined.setdefault("; ".join(why), []).append(graph.name_of(tensor))
                continue
        keys = [k for k in by_name if _name_matches(k, graph.name_of(tensor))]
        matched.update(keys)
        if len({by_name[k] for k in keys}) > 1:
            raise ValueError(f"layer names {keys} all match tensor {graph.name_of(tensor)!r} with different n")
        requested = by_name[keys[0]] if keys else default
        chosen = choose_n(weight, requested, strict=bool(keys), what=keys[0] if keys else None,
                          rounding_zeros=rounding, hint=hints.get(graph.name_of(tensor)))
        if chosen is not None:
            plans.append((wop, weight, chosen))
    for why, names in declined.items():
        warnings.warn(f"onexn: {len(names)} 1xN-sparse int8 weight(s) get no record ({', '.join(names)}): {why}",
                      stacklevel=3)
    missing = sorted(set(by_name) - matched)
    if missing:
        raise ValueError(f"layer names {missing} match no CONV_2D / FULLY_CONNECTED weight onexn describes; "
                         f"weight tensors are: {_weight_names(model)}")
    if not plans:
        return graph.as_bytes(tflite)
    # TFLite's block-sparse encoding is defined for float32 weights only (docs/FORMAT.md).
    compacted = _store_compact(model, [p for p in plans if p[1].dtype == np.float32]) if compact else {}
    records = []
    for wop, weight, chosen in plans:
        # A compact weight is described as DENSIFY outputs it (its CRC covers that).
        densified = compacted.get((wop.subgraph, wop.weight_tensor))
        records.append(metadata.record_for_weight(
            weight if densified is None else densified, chosen, subgraph=wop.subgraph,
            operator=wop.subgraph_position(model), builtin_op=wop.builtin_op, weight_tensor=wop.weight_tensor,
            encoding=metadata.ENCODING_DENSE if densified is None else metadata.ENCODING_SPARSE))
    _add_entry(model, metadata.encode_entry(records))
    return graph.write_model(model)


def choose_n(weight, requested=None, *, strict=False, what=None, rounding_zeros=0, hint=None):
    """The block width to record for a TFLite weight (OHWI or (cout, cin)), or None for no record.

    ``requested`` None: ``blocks.detect_n`` (with ``hint``). An int: that N if its all-zero blocks hold more
    (output, input) weight pairs than ``rounding_zeros`` (0 for float weights: one all-zero block is enough;
    for int8 weights ``blocks.quantized_rounding_zeros``, so that the zeros rounding made do not count).
    ``strict`` turns "no record" for a requested N into a ValueError about layer ``what``.
    """
    hwio = blocks.ohwi_to_hwio(blocks.to_ohwi(weight))
    if requested is None:
        return blocks.detect_n(hwio, rounding_zeros=rounding_zeros, hint=hint)
    cout = hwio.shape[3]
    pairs_in_zero_blocks = blocks.zeros_in_zero_blocks(hwio, requested) // (hwio.shape[0] * hwio.shape[1])
    if requested <= cout and pairs_in_zero_blocks > rounding_zeros:
        return requested
    if strict:
        raise ValueError(f"layer {what!r}: its weight (cout={cout}) has no all-zero 1x{requested} block")
    return None


def _resolve_n(n):
    """n argument -> (default n or None, {name: n})."""
    if n is None:
        return None, {}
    if isinstance(n, dict):
        return None, {str(k).strip("/"): blocks.check_n(v, layer=k) for k, v in n.items()}
    return blocks.check_n(n), {}


def _name_matches(key, tensor_name):
    want = key.split("/")
    for part in tensor_name.split(";"):
        path = part.split("/")
        if any(path[i:i + len(want)] == want for i in range(len(path) - len(want) + 1)):
            return True
    return False


def _weight_names(model):
    return [graph.name_of(model.subgraphs[w.subgraph].tensors[w.weight_tensor]) for w in graph.weight_ops(model)]


def _describable(subgraph, wop, weight):
    """The format describes plain float32 and int8 constant weights of ungrouped convolutions and dense layers
    (which int8 operators exactly: ``int8.problems``)."""
    if (weight is None or weight.dtype == np.int32 or not graph.weight_shape_ok(wop.builtin_op, weight.shape)
            or weight.size >= 2 ** 31 or graph.grouped_conv(subgraph, wop, weight)):
        return False
    options = wop.op.builtinOptions
    return getattr(options, "weightsFormat", 0) == 0  # FULLY_CONNECTED's shuffled formats are not (cout, cin)


def _store_compact(model, plans):
    """Re-encodes the weights that can be compact; returns {(subgraph, tensor): densified weight}."""
    by_tensor = {}
    for wop, weight, chosen in plans:
        by_tensor.setdefault((wop.subgraph, wop.weight_tensor), []).append((wop, weight, chosen))
    compacted, densify = {}, {}
    readers_of = {s: graph.consumers(subgraph) for s, subgraph in enumerate(model.subgraphs)}
    for (s, t), users in by_tensor.items():
        subgraph = model.subgraphs[s]
        weight, chosen = users[0][1], users[0][2]
        readers = readers_of[s].get(t, [])
        if (len({c for _, _, c in users}) != 1 or weight.shape[0] % chosen
                or sorted(readers) != sorted((w.operator, 1) for w, _, _ in users)
                or t in _ints(subgraph.inputs) or t in _ints(subgraph.outputs)
                or sparse.encoded_bytes(weight, chosen) >= weight.nbytes
                or not np.any(weight)):  # an empty buffer would not count as a constant for DENSIFY
            continue
        op, compacted[(s, t)] = sparse.store_sparse(model, s, t, weight, chosen)
        densify.setdefault(s, []).append(op)
    for s, ops in densify.items():
        # DENSIFY runs first; every other operator shifts by len(ops), which WeightOp.subgraph_position sees.
        model.subgraphs[s].operators[:0] = ops
    if densify:
        _require_runtime(model, DENSIFY_RUNTIME)
    return compacted


def _require_runtime(model, version):
    """Raises the converter's ``min_runtime_version`` entry (16 bytes, NUL padded) to at least `version`."""
    for entry in model.metadata or []:
        if graph.name_of(entry) != "min_runtime_version":
            continue
        buffer = model.buffers[entry.buffer]
        current = bytes(np.asarray(buffer.data if buffer.data is not None else [], np.uint8)).rstrip(b"\0")
        try:
            older = tuple(map(int, current.decode().split("."))) < tuple(map(int, version.split(".")))
        except ValueError:
            older = True
        if older:
            buffer.data = np.frombuffer(version.encode().ljust(16, b"\0"), np.uint8)


def _ints(values):
    return {int(v) for v in (values if values is not None else [])}


def _add_entry(model, data):
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = metadata.ENTRY_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = list(model.metadata or []) + [entry]
