"""Damaged and unusual input the existing delegate tests do not cover (issue 7).

Already covered elsewhere, not repeated here: truncated / bad-CRC / unknown-version / lying metadata and
wrong N or shapes (test_delegate_metadata.py), bad options (test_delegate_options.py), batch > 1 and
resized inputs (test_delegate.py), the C++ reader under ASan (bazel test --config=asan), the Python reader
(test_metadata.py). Here: a truncated .tflite, random and mutated metadata bytes through the delegate
(checked against the Python reader and ``verify``), dynamic shapes, int8 and float16 models.

Every case runs the stock runtime too: the delegate either declines (and says why) or answers the same.
"""

import functools
import os
import struct
import zlib

import numpy as np
import pytest

from tensorflow.lite.python import schema_py_generated as schema

from onexn_tf.runtime.delegate import delegate_report, load_delegate, read_report
from onexn_tf.tflite import graph, verify
from onexn_tf.tflite import metadata as onexn_metadata

from test_delegate import _mixed_model
from test_delegate_metadata import BASE, CLAIMABLE, COMPACT, COMPACT_OPS
from test_delegate_models import (GraphBuilder, assert_close, conv_model, entry_of, fc_model, interpreter_class,
                                  random_inputs, replace_entry, run, sparse_weight, with_metadata)

HEADER = 32


def _reseal(entry):
    """Makes total_bytes and the CRC consistent again, so the record rules are what gets tested."""
    entry = bytearray(entry)
    entry[12:16] = struct.pack("<I", len(entry))
    entry[24:28] = struct.pack("<I", zlib.crc32(bytes(entry[HEADER:])) & 0xFFFFFFFF)
    return bytes(entry)


# ---------------------------------------------------------------------------------------------------------
# A truncated .tflite


def test_truncated_tflite_is_a_value_error_not_a_crash():
    tflite = conv_model(n=4)
    delegate = load_delegate(dense="never")
    Interpreter = interpreter_class("litert")
    cuts = sorted(set(np.linspace(1, len(tflite) - 1, 48).astype(int)))
    for cut in cuts:
        with pytest.raises(ValueError, match="not a valid Flatbuffer"):
            Interpreter(model_content=tflite[:cut], experimental_delegates=[delegate])
    with pytest.raises(ValueError):
        delegate_report(tflite[:len(tflite) // 2])
    assert read_report(delegate)["prepared"] is False  # the runtime never offered it a graph
    with pytest.raises(ValueError, match="not a readable TFLite model"):
        verify.read_metadata(tflite[:len(tflite) // 2])


# ---------------------------------------------------------------------------------------------------------
# Random and mutated metadata through the delegate


def _python_reader_accepts(entry):
    try:
        onexn_metadata.parse_entry(entry, keep_unknown=True)
    except onexn_metadata.MetadataError:
        return False
    return True


def _mutations(entry, rng, count):
    """Entries with a few u32 fields or bytes of the records changed, resealed so the header checks pass.

    Two thirds of the edits write a small or off-by-one value into a field of a record's fixed part or its
    arrays (values a buggy converter would write); the rest overwrite or flip single bytes anywhere.
    """
    records = onexn_metadata.parse_entry(entry, keep_unknown=True)
    starts = np.cumsum([HEADER] + [r.record_bytes for r in records])[:-1]
    out = []
    for _ in range(count):
        data = bytearray(entry)
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 2 / 3:
                i = int(rng.integers(len(records)))
                words = records[i].record_bytes // 4
                pos = int(starts[i]) + 4 * int(rng.integers(1, min(words, 20)))
                old = struct.unpack_from("<I", data, pos)[0]
                new = int(rng.integers(0, 40)) if rng.random() < 0.5 else max(old + int(rng.choice([-1, 1])), 0)
                struct.pack_into("<I", data, pos, new & 0xFFFFFFFF)
            else:
                pos = int(rng.integers(HEADER, len(data)))
                data[pos] = int(rng.integers(0, 256)) if rng.random() < 0.5 else data[pos] ^ (1 << int(rng.integers(8)))
        out.append(_reseal(bytes(data)))
    return out


def _run_entries(tflite, entries, claimable):
    """Runs the model with each entry; checks answers and that both readers and ``verify`` agree."""
    inputs = random_inputs(tflite)
    want = run(tflite, inputs)
    outcomes = {"damaged": 0, "claimed_all": 0, "claimed_some": 0, "claimed_none": 0}
    for entry in entries:
        model = replace_entry(tflite, entry)
        delegate = load_delegate(dense="never")
        got = run(model, inputs, [delegate])
        report = read_report(delegate)
        assert_close(got, want)
        claimed = report["claimed_nodes"]
        assert set(claimed) <= set(claimable), report
        accepted = report["metadata"] == "ok"
        assert accepted == _python_reader_accepts(entry), (report["metadata"], entry)
        if not accepted:
            assert claimed == [] and report["metadata"], report
            outcomes["damaged"] += 1
            continue
        # Whatever the delegate trusts, the Python checker must find true.
        checks = {c.record.operator: c for c in verify.verify(model)}
        for node in claimed:
            assert checks[node].ok, (node, checks[node].problems)
        for d in report["declined"]:
            assert d["reason"], d
        key = "claimed_all" if len(claimed) == len(claimable) else "claimed_some" if claimed else "claimed_none"
        outcomes[key] += 1
    return outcomes


def test_random_bytes_as_metadata_claim_nothing():
    rng = np.random.default_rng(7)
    entries = [rng.bytes(int(n)) for n in rng.integers(0, 700, 40)]
    entries += [b"ONXN" + rng.bytes(int(n)) for n in rng.integers(28, 700, 20)]  # right magic, junk after it
    entries += [_reseal(b"ONXN\x01\x00\x00\x00\x20\x00\x00\x00" + rng.bytes(int(n))) for n in rng.integers(20, 700, 20)]
    outcomes = _run_entries(BASE, entries, CLAIMABLE)
    assert outcomes["damaged"] == len(entries)


MUTATED_MODELS = {
    "three_nodes_dense": lambda: (BASE, CLAIMABLE),
    "three_nodes_compact": lambda: (COMPACT, COMPACT_OPS),
    "mixed_graph": lambda: (_mixed_model(), [0, 3, 6]),
    "conv_stride2_n2": lambda: (conv_model(k=(3, 3), stride=(2, 2), n=2, size=(11, 11)), [0]),
    "conv_5x5_valid_n16": lambda: (conv_model(k=(5, 5), n=16, cout=48, padding="valid", size=(11, 11)), [0]),
    "fc_keep_num_dims": lambda: (fc_model(input_shape=(2, 3, 32), n=4, cout=16, keep_num_dims=True), [0]),
    "int8_conv_fc": lambda: (_quantized_models()["int8"], _weight_nodes(_quantized_models()["int8"])),
}
# More cases on demand, e.g. ONEXN_RELIABILITY_MUTATIONS=400 (docs/RELIABILITY.md).
MUTATIONS = int(os.environ.get("ONEXN_RELIABILITY_MUTATIONS", "60"))


@pytest.mark.parametrize("name", MUTATED_MODELS)
def test_mutated_records_never_change_the_answer(name):
    tflite, claimable = MUTATED_MODELS[name]()
    rng = np.random.default_rng(sorted(MUTATED_MODELS).index(name))
    outcomes = _run_entries(tflite, _mutations(entry_of(tflite), rng, MUTATIONS), claimable)
    print(f"{name}: {MUTATIONS} mutated entries: {outcomes}")  # shown with pytest -s
    # The mutations really reach the delegate's checks against the model, not only the reader's rules.
    assert outcomes["damaged"] > 0 and outcomes["damaged"] < MUTATIONS, outcomes
    assert outcomes["claimed_all"] < MUTATIONS - outcomes["damaged"], outcomes


# ---------------------------------------------------------------------------------------------------------
# Dynamic shapes


def test_dynamic_batch_signature_resized_to_several_batches():
    rng = np.random.default_rng(2)
    g = GraphBuilder()
    x = g.input([1, 9, 9, 8])
    y = g.conv(x, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16), activation="relu")
    g.tensors[x].shapeSignature = np.array([-1, 9, 9, 8], np.int32)
    g.tensors[y].shapeSignature = np.array([-1, 9, 9, 16], np.int32)
    tflite = with_metadata(g.finish(y), 4)
    for batch in (1, 3, 5):
        shape = [batch, 9, 9, 8]
        inputs = [rng.standard_normal(shape).astype(np.float32)]
        delegate = load_delegate(dense="never")
        got = run(tflite, inputs, [delegate], resize={0: shape})
        assert read_report(delegate)["claimed"] == 1
        assert_close(got, run(tflite, inputs, resize={0: shape}))


def _reshape_then_conv():
    """RESHAPE to a shape given at run time (a dynamic tensor), then a 1x4-pruned conv, then a 1x4 FC."""
    rng = np.random.default_rng(3)
    g = GraphBuilder()
    x = g.input([1, 648])
    shape = g._tensor([4], "shape", dtype=schema.TensorType.INT32)
    g.inputs.append(shape)
    r = g._tensor([1, 9, 9, 8], "reshaped")
    g._op(schema.BuiltinOperator.RESHAPE, [x, shape], [r])
    y = g.conv(r, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16), activation="relu6")
    z = g.fully_connected(y, sparse_weight(rng, (12, 16), 4), rng.standard_normal(12))
    g.tensors[z].shape = np.array([81, 12], np.int32)
    return with_metadata(g.finish(z), 4)


@pytest.mark.parametrize("runtime", ["litert", "tf"])
def test_data_dependent_shapes_are_handled(runtime):
    # Regression: without kTfLiteDelegateFlagsAllowDynamicTensors the runtime refused the whole delegate
    # for a graph with a dynamic tensor and the Interpreter constructor raised a bare RuntimeError, while
    # the stock runtime ran the model.
    tflite = _reshape_then_conv()
    Interpreter = interpreter_class(runtime)
    delegate = load_delegate(dense="never")
    fast = Interpreter(model_content=tflite, experimental_delegates=[delegate])
    stock = Interpreter(model_content=tflite)
    rng = np.random.default_rng(4)
    for it in (fast, stock):
        it.allocate_tensors()
    assert read_report(delegate)["claimed"] == 2
    for shape in ([1, 9, 9, 8], [2, 9, 9, 8], [1, 27, 3, 8], [3, 4, 6, 8], [1, 9, 9, 8]):
        size = int(np.prod(shape))
        x = rng.standard_normal([1, size]).astype(np.float32)
        outs = []
        for it in (fast, stock):
            it.resize_tensor_input(it.get_input_details()[0]["index"], [1, size])
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.set_tensor(it.get_input_details()[1]["index"], np.array(shape, np.int32))
            it.invoke()
            outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
        assert outs[0].shape == (int(np.prod(shape[:3])), 12)
        assert_close([outs[0]], [outs[1]])


def test_dynamic_shape_that_breaks_the_filter_is_an_error_on_both():
    # Reshaping to 4 channels where the filter has 8: the stock CONV_2D rejects it too. The delegate's
    # kernel must fail the invoke with a message, not read out of bounds.
    tflite = _reshape_then_conv()
    x = np.ones([1, 648], np.float32)
    shape = np.array([1, 9, 18, 4], np.int32)
    for delegates in ([], [load_delegate(dense="never")]):
        it = interpreter_class("litert")(model_content=tflite, experimental_delegates=delegates)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.set_tensor(it.get_input_details()[1]["index"], shape)
        with pytest.raises(RuntimeError) as error:
            it.invoke()
        if delegates:
            assert "input channels 4 != filter input channels 8" in str(error.value)


def test_resizing_input_channels_after_the_claim_is_a_clear_error():
    # Known limitation (docs/RELIABILITY.md): the stock CONV_2D runs a grouped convolution when the input
    # is resized to a multiple of the filter's channels; a node the delegate already claimed cannot be
    # handed back, so its Prepare fails with a message. An error, never a wrong answer.
    tflite = conv_model(n=4, cin=8, cout=16)
    x = [np.random.default_rng(0).standard_normal([1, 9, 9, 16]).astype(np.float32)]
    assert run(tflite, x, resize={0: [1, 9, 9, 16]})[0].shape == (1, 9, 9, 16)
    with pytest.raises(RuntimeError, match="input channels 16 != filter input channels 8"):
        run(tflite, x, [load_delegate(dense="never")], resize={0: [1, 9, 9, 16]})


# ---------------------------------------------------------------------------------------------------------
# int8 and float16 models: int8 records run (tests/test_delegate_int8.py), float records on them are declined


@functools.lru_cache(maxsize=None)
def _quantized_models():
    """A 1x4-pruned conv + dense Keras model converted to int8 and to float16 weights."""
    import tensorflow as tf

    from conftest import prune_layers
    from onexn_tf import convert
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 8))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(8, name="d1")(x))
    kernels = prune_layers(model, {"c1": (4, 0.5), "d1": (4, 0.5)})

    def dataset():
        rng = np.random.default_rng(0)
        for _ in range(8):
            yield [rng.standard_normal((1, 8, 8, 8)).astype(np.float32)]

    int8 = convert(model, optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=dataset)
    fp16 = convert(model, optimizations=[tf.lite.Optimize.DEFAULT],
                   target_spec=tf.lite.TargetSpec(supported_types=[tf.float16]))
    return {"int8": int8, "fp16": fp16, "kernels": kernels}


@pytest.fixture(scope="module")
def quantized():
    return _quantized_models()


def _records_claiming(tflite, kernels, encoding=onexn_metadata.ENCODING_DENSE):
    """Records that describe the float Keras weights and point at the model's conv and FC operators."""
    model = graph.read_model(tflite)
    ops = model.subgraphs[0].operators
    records = []
    for index, op in enumerate(ops):
        code = graph.builtin_code(model, op)
        if code not in (onexn_metadata.CONV_2D, onexn_metadata.FULLY_CONNECTED):
            continue
        kernel = kernels["c1"] if code == onexn_metadata.CONV_2D else kernels["d1"]
        ohwi = np.transpose(kernel, (3, 0, 1, 2)) if kernel.ndim == 4 else kernel.T
        records.append(onexn_metadata.record_for_weight(ohwi, 4, subgraph=0, operator=index, builtin_op=code,
                                                        weight_tensor=int(op.inputs[1]), encoding=encoding))
    assert len(records) == 2
    buffer = graph.schema.BufferT()  # the classes of the tree graph.read_model made
    buffer.data = np.frombuffer(onexn_metadata.encode_entry(records), np.uint8)
    model.buffers.append(buffer)
    entry = graph.schema.MetadataT()
    entry.name = onexn_metadata.ENTRY_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = list(model.metadata or []) + [entry]
    return graph.write_model(model), [r.operator for r in records]


def _check_declined(tflite, nodes, why):
    inputs = random_inputs(tflite)
    delegate = load_delegate(dense="never")
    got = run(tflite, inputs, [delegate])
    report = read_report(delegate)
    assert report["claimed"] == 0, report
    declined = {d["node"]: d["reason"] for d in report["declined"]}
    assert sorted(declined) == sorted(nodes), report
    for node in nodes:
        assert why in declined[node], declined
    np.testing.assert_array_equal(got[0], run(tflite, inputs)[0])  # the graph is untouched
    return declined


def _weight_nodes(tflite):
    model = graph.read_model(tflite)
    return [i for i, op in enumerate(model.subgraphs[0].operators)
            if graph.builtin_code(model, op) in (onexn_metadata.CONV_2D, onexn_metadata.FULLY_CONNECTED)]


def test_fp16_model_without_records_is_left_alone(quantized):
    assert verify.read_metadata(quantized["fp16"]) == []
    _check_declined(quantized["fp16"], _weight_nodes(quantized["fp16"]), "no onexn_1xn metadata")


def test_int8_records_are_claimed(quantized):
    records = verify.read_metadata(quantized["int8"])
    assert [(r.n, r.weight_type) for r in records] == [(4, onexn_metadata.WEIGHT_INT8)] * 2
    assert all(c.ok for c in verify.verify(quantized["int8"]))
    inputs = random_inputs(quantized["int8"])
    delegate = load_delegate(dense="never")  # N=4: by default int8 blocks this narrow are left to XNNPACK
    got = run(quantized["int8"], inputs, [delegate])
    assert read_report(delegate)["claimed_nodes"] == _weight_nodes(quantized["int8"])
    np.testing.assert_array_equal(got[0], run(quantized["int8"], inputs)[0])


@pytest.mark.parametrize("kind,encoding,why", [
    ("int8", onexn_metadata.ENCODING_DENSE, "is not float32"),
    ("fp16", onexn_metadata.ENCODING_DENSE, "weight is not a constant tensor"),
    ("fp16", onexn_metadata.ENCODING_SPARSE, "not the output of a DENSIFY operator"),
])
def test_records_claiming_quantized_nodes_are_declined(quantized, kind, encoding, why):
    tflite, nodes = _records_claiming(quantized[kind], quantized["kernels"], encoding)
    _check_declined(tflite, nodes, why)


@pytest.mark.parametrize("threads", [1, 2])
def test_denormal_inputs_flush_to_zero_as_on_the_stock_runtime(threads):
    # XNNPACK runs every operator with denormals flushed to zero (FTZ + DAZ on x86): inputs below float32's
    # smallest normal number count as zero there, so a layer without bias gives exact zeros. The delegate
    # runs in the same mode (kernels/common/fpu.c); without it, it gave ~1e-39 instead, and x86 cores take a
    # microcode assist per denormal operand (a MobileNetV2 fed such values ran 15-20x slower than stock).
    tflite = conv_model(k=(1, 1), n=16, cin=32, cout=32, size=(8, 8), bias=False)
    inputs = [x * np.float32(1e-39) for x in random_inputs(tflite)]
    assert np.count_nonzero(inputs[0]) == inputs[0].size and np.abs(inputs[0]).max() < np.finfo(np.float32).tiny
    want = run(tflite, inputs, num_threads=threads)
    assert not np.any(want[0]), "the stock runtime no longer flushes denormals"
    delegate = load_delegate(dense="never", num_threads=threads)
    got = run(tflite, inputs, [delegate], num_threads=threads)
    assert read_report(delegate)["claimed"] == 1
    np.testing.assert_array_equal(got[0], want[0])
    # The caller's mode is put back: this thread still computes with denormals.
    assert np.multiply(np.float32(1e-39), np.float32(2.0)) == np.float32(2e-39)
    normal = random_inputs(tflite)
    assert_close(run(tflite, normal, [delegate], num_threads=threads), run(tflite, normal, num_threads=threads))
