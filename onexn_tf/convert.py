"""Keras -> .tflite with the ``onexn_1xn`` block-sparse metadata entry (docs/FORMAT.md)."""

import sys
import types

import numpy as np

from onexn_tf import blocks
from onexn_tf import metadata
from onexn_tf import tflite_graph as graph
from onexn_tf import tflite_sparse

CANDIDATE_N = (64, 32, 16, 8, 4, 2, 1)
DENSIFY_RUNTIME = "2.2.0"  # first TFLite release with the DENSIFY operator


def convert(model, *, compact=False, representative_dataset=None, n=None, **converter_options):
    """Converts a stripped 1xN-pruned tf_keras model to .tflite bytes with onexn metadata.

    TensorFlow's own ``tf.lite.TFLiteConverter.from_keras_model`` does the conversion (float32 unless the
    options say otherwise); the result is then post-processed: every CONV_2D and FULLY_CONNECTED operator
    whose weight is a constant float32 tensor with all-zero 1xN blocks gets a record in one metadata entry
    named ``onexn_1xn``. The stock runtime ignores the entry; the onexn delegate uses it.

    Args:
      model: a tf_keras model, pruning wrappers already stripped (``onexn_tf.strip_1xn``). The bytes of a
        float32 .tflite model are accepted too: they are annotated without converting again.
      compact: also store each recorded weight in TFLite's own block-sparse encoding, densified at load
        time by a DENSIFY operator, so the file shrinks by about the block sparsity. A weight stays dense
        (record encoding 0) when cout % n != 0 (TFLite blocks must tile the channels), when the encoding
        would not be smaller, when it is all zero (an empty buffer is not a constant to the runtime), or
        when something other than the recorded operators reads it.
      representative_dataset: passed to the TF converter. With ``optimizations`` (a converter option) it
        gives an int8 model; onexn format v1 describes float32 weights only, so such a model comes out
        with no onexn records.
      n: block width. None (default) finds it per operator, on the TFLite weight itself (OHWI, block along
        O, after TensorFlow folded BatchNorm into it): the largest N in 64, 32, ..., 1, N <= cout, such
        that every zero weight lies in an all-zero 1xN block and at least one block is zero. An int uses
        that N for every operator (operators with no all-zero block at that N, or with cout < N, get no
        record). A dict ``{layer_name: n}`` fixes N for the named Keras layers and finds it for the others:
        a name matches an operator when it is a '/'-separated part of the operator's weight tensor name
        (TensorFlow names it like ``model/<layer>/Conv2D``; ``"outer/inner"`` paths match too). A name
        that matches no operator, or whose weight has no all-zero block at its N, raises ValueError.
      **converter_options: set as attributes of the TFLiteConverter (``optimizations=...``,
        ``target_spec=...``); an unknown name raises ValueError.

    Returns:
      The .tflite model as bytes. With nothing 1xN-sparse it is the converter's output unchanged (no entry).
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        if representative_dataset is not None or converter_options:
            raise ValueError("converter options and representative_dataset need a Keras model, not .tflite bytes")
        tflite = bytes(model)
    else:
        tflite = _tf_convert(model, representative_dataset, converter_options)
    return annotate(tflite, compact=compact, n=n)


def _tf_convert(model, representative_dataset, converter_options):
    import tensorflow as tf
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    from onexn_tf.keras_compat import check_is_tf_keras, keras

    check_is_tf_keras(model, "model")
    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a tf_keras Model or .tflite bytes, got {type(model).__name__}")
    wrapped = [layer.name for layer in model.submodules if isinstance(layer, pruning_wrapper.PruneLowMagnitude)]
    if wrapped:
        raise ValueError(f"the model still has pruning wrappers ({', '.join(wrapped)}): "
                         "remove them with onexn_tf.strip_1xn(model) before converting")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    for key, value in converter_options.items():
        if key.startswith("_") or not hasattr(converter, key):
            raise ValueError(f"unknown TFLiteConverter option {key!r}")
        setattr(converter, key, value)
    if representative_dataset is not None:
        converter.representative_dataset = representative_dataset
    return bytes(converter.convert())


def annotate(tflite, *, compact=False, n=None):
    """Adds the onexn entry (and with ``compact`` the sparse encoding) to float32 .tflite bytes.

    See ``convert`` for ``compact`` and ``n``. ValueError if the model already has an onexn entry.
    """
    default, by_name = _resolve_n(n)
    model = graph.read_model(tflite)
    names = [metadata._name(m.name) for m in (model.metadata or [])]
    if any(name.startswith("onexn") for name in names):
        raise ValueError("the model already has onexn metadata; convert the Keras model again instead")
    plans, matched = [], set()
    for wop in graph.weight_ops(model):
        subgraph = model.subgraphs[wop.subgraph]
        tensor = subgraph.tensors[wop.weight_tensor]
        weight = graph.constant_float32(model, tensor)
        if not _describable(subgraph, wop, weight):
            continue
        keys = [k for k in by_name if _name_matches(k, graph.tensor_name(tensor))]
        matched.update(keys)
        if len({by_name[k] for k in keys}) > 1:
            raise ValueError(f"layer names {keys} all match tensor {graph.tensor_name(tensor)!r} with different n")
        requested = by_name[keys[0]] if keys else default
        chosen = choose_n(weight, requested, strict=bool(keys), what=keys[0] if keys else None)
        if chosen is not None:
            plans.append((wop, weight, chosen))
    missing = sorted(set(by_name) - matched)
    if missing:
        raise ValueError(f"layer names {missing} match no float32 CONV_2D / FULLY_CONNECTED weight; weight "
                         f"tensors are: {_weight_names(model)}")
    if not plans:
        return bytes(graph.as_bytes(tflite))
    compacted = _store_compact(model, plans) if compact else {}
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


def choose_n(weight, requested=None, *, strict=False, what=None):
    """The block width to record for a TFLite weight (OHWI or (cout, cin)), or None for no record.

    ``requested`` None: the largest candidate N <= cout whose all-zero blocks explain every zero weight,
    provided there is at least one. An int: that N if it has an all-zero block. ``strict`` turns "no
    record" for a requested N into a ValueError about layer ``what``.
    """
    hwio = graph.ohwi_to_hwio(graph.to_ohwi(np.asarray(weight)))
    cout = hwio.shape[3]
    if requested is not None:
        if requested <= cout and not blocks.kept_blocks(hwio, requested).all():
            return requested
        if strict:
            raise ValueError(f"layer {what!r}: its weight (cout={cout}) has no all-zero 1x{requested} block")
        return None
    for candidate in CANDIDATE_N:
        if candidate <= cout and not blocks.kept_blocks(hwio, candidate).all() \
                and blocks.blocks_explain_zeros(hwio, candidate):
            return candidate
    return None


def _resolve_n(n):
    """n argument -> (default n or None, {name: n})."""
    if n is None:
        return None, {}
    if isinstance(n, dict):
        return None, {str(k).strip("/"): _check_n(v, k) for k, v in n.items()}
    return _check_n(n, None), {}


def _check_n(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= metadata.MAX_N:
        where = f" for layer {name!r}" if name is not None else ""
        raise ValueError(f"n{where} must be an integer in 1..{metadata.MAX_N}, got {value!r}")
    return int(value)


def _name_matches(key, tensor_name):
    want = key.split("/")
    for part in tensor_name.split(";"):
        path = part.split("/")
        if any(path[i:i + len(want)] == want for i in range(len(path) - len(want) + 1)):
            return True
    return False


def _weight_names(model):
    return [graph.tensor_name(model.subgraphs[w.subgraph].tensors[w.weight_tensor]) for w in graph.weight_ops(model)]


def _describable(subgraph, wop, weight):
    """Format v1 describes plain float32 constant weights of ungrouped convolutions and dense layers."""
    if weight is None or not graph.weight_shape_ok(wop.builtin_op, weight.shape) or weight.size >= 2 ** 31:
        return False
    if graph.grouped_conv(subgraph, wop, weight):
        return False
    options = wop.op.builtinOptions
    return getattr(options, "weightsFormat", 0) == 0  # FULLY_CONNECTED shuffled int8 formats are not float


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
                or tflite_sparse.encoded_bytes(weight, chosen) >= weight.nbytes
                or not np.any(weight)):  # an empty buffer would not count as a constant for DENSIFY
            continue
        op, compacted[(s, t)] = tflite_sparse.store_sparse(model, s, t, weight, chosen)
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
        if metadata._name(entry.name) != "min_runtime_version":
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
    from tensorflow.lite.python import schema_py_generated as schema

    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = metadata.ENTRY_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = list(model.metadata or []) + [entry]


class _CallableModule(types.ModuleType):
    """``onexn_tf.convert`` names both this module and its function. Once anything imports the module
    (``from onexn_tf.convert import annotate``), the package attribute is the module, so calling the module
    must call the function."""

    def __call__(self, *args, **kwargs):
        return convert(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
