"""onexn_tf.convert on post-training integer quantization: int8 records (format version 2) for the int8
CONV_2D / FULLY_CONNECTED operators, N found on the int8 weights, the stock runtime's results untouched, and
the operators onexn does not run left without a record, with the reason."""

import dataclasses
import warnings

import numpy as np
import pytest
from conftest import VARIED_PLAN, build_varied_model, run_tflite

from onexn_tf import blocks, convert, read_metadata
from onexn_tf.tflite import graph, int8, metadata, verify
from onexn_tf.tflite.annotate import annotate


def _dataset(shape, count=16):
    def gen():
        rng = np.random.default_rng(0)
        for _ in range(count):
            yield [rng.standard_normal((1,) + tuple(shape)).astype("f4")]
    return gen


def _tf_convert(model, full_int8, dataset=True):
    """TensorFlow's own int8 conversion (no onexn), with float or int8 I/O."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if dataset:
        converter.representative_dataset = _dataset(model.input_shape[1:])
    if full_int8:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


@pytest.fixture(scope="module")
def quantized():
    """The varied model (every N in 1..16) as TensorFlow converts it to int8 (float and int8 I/O)."""
    model, _ = build_varied_model()
    return {"model": model, "float_io": _tf_convert(model, False), "int8_io": _tf_convert(model, True)}


def _layer_of(model, record):
    name = graph.name_of(model.subgraphs[0].tensors[record.weight_tensor])
    (layer,) = [k for k in VARIED_PLAN if f"/{k}/" in name]
    return layer


@pytest.mark.parametrize("io", ["float_io", "int8_io"])
def test_int8_operators_get_int8_records(quantized, io):
    tflite = annotate(quantized[io])
    model = graph.read_model(tflite)
    records = read_metadata(tflite)
    assert len(records) == len(VARIED_PLAN)
    assert verify.entry_bytes(model)[4:8] == (2).to_bytes(4, "little")  # int8 records need version 2
    for r in records:
        tensor = model.subgraphs[0].tensors[r.weight_tensor]
        weight = graph.constant(model, tensor)
        assert weight.dtype == np.int8 and r.weight_type == metadata.WEIGHT_INT8
        assert (r.n, r.encoding) == (VARIED_PLAN[_layer_of(model, r)][0], metadata.ENCODING_DENSE)
        # Kept blocks are exactly those with a non-zero int8 weight; the CRC covers the int8 bytes.
        np.testing.assert_array_equal(r.kept_blocks().T, blocks.kept_map(weight, r.n))
        assert r.weight_crc32 == metadata.weight_crc32(weight)
        assert int8.problems(model, model.subgraphs[0], model.subgraphs[0].operators[r.operator], r.cout) == []
    assert all(c.ok for c in verify.verify(tflite))


@pytest.mark.parametrize("io", ["float_io", "int8_io"])
def test_the_stock_runtime_gives_the_same_bits(quantized, io):
    x = np.random.default_rng(3).standard_normal((2, 9, 9, 8)).astype("f4")
    if io == "int8_io":
        x = np.random.default_rng(3).integers(-128, 128, (2, 9, 9, 8), dtype=np.int8)
    onexn = convert(quantized["model"], representative_dataset=_dataset((9, 9, 8)), **_options(io))
    assert read_metadata(onexn) == read_metadata(annotate(quantized[io]))  # convert == TF converter + annotate
    for delegates in (True, False):
        np.testing.assert_array_equal(run_tflite(onexn, x, delegates=delegates),
                                      run_tflite(quantized[io], x, delegates=delegates))


def _options(io):
    import tensorflow as tf

    options = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if io == "int8_io":
        options.update(target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                       inference_input_type=tf.int8, inference_output_type=tf.int8)
    return options


def test_n_options_apply_to_int8_weights(quantized):
    forced = read_metadata(annotate(quantized["int8_io"], n=2))
    assert [r.n for r in forced] == [2] * len(VARIED_PLAN)
    by_name = annotate(quantized["int8_io"], n={"c1": 8})
    model = graph.read_model(by_name)
    planned = {layer: n for layer, (n, _) in VARIED_PLAN.items()}
    assert {_layer_of(model, r): r.n for r in read_metadata(by_name)} == dict(planned, c1=8)
    with pytest.raises(ValueError, match="no all-zero 1x32 block"):
        annotate(quantized["int8_io"], n={"c2": 32})  # 24 channels


def test_compact_keeps_int8_weights_dense(quantized):
    plain, compact = annotate(quantized["int8_io"]), annotate(quantized["int8_io"], compact=True)
    assert read_metadata(compact) == read_metadata(plain)
    assert all(r.encoding == metadata.ENCODING_DENSE for r in read_metadata(compact))
    assert len(compact) == len(plain)


def test_dynamic_range_quantization_gets_no_int8_record_and_says_why(quantized):
    hybrid = _tf_convert(quantized["model"], False, dataset=False)
    with pytest.warns(UserWarning, match=r"int8 weight\(s\) get no record .*dynamic-range quantization"):
        records = read_metadata(annotate(hybrid))
    assert all(r.weight_type == metadata.WEIGHT_FLOAT32 for r in records)  # float layers still get theirs


def _edit_quantization(tflite, operator, tensor_position, **fields):
    model = graph.read_model(tflite)
    op = model.subgraphs[0].operators[operator]
    q = model.subgraphs[0].tensors[op.inputs[tensor_position] if tensor_position >= 0 else op.outputs[0]].quantization
    for key, value in fields.items():
        setattr(q, key, value)
    return graph.write_model(model)


def _first_conv(tflite):
    model = graph.read_model(tflite)
    return next(w for w in graph.weight_ops(model) if w.op_name == "CONV_2D")


@pytest.mark.parametrize("position,fields,why", [
    (1, dict(zeroPoint=np.array([0] * 31 + [3])), "non-zero zero point"),
    (1, dict(scale=np.ones(5, np.float32), zeroPoint=np.zeros(5, np.int64)), "5 scales along dimension 0"),
    (1, dict(quantizedDimension=3), "32 scales along dimension 3"),
    (0, dict(scale=np.array([0.5, 0.5], np.float32), zeroPoint=np.array([0, 0])), "input has no single"),
    (-1, dict(scale=np.array([1e-12], np.float32)), "requantization scale"),
])
def test_operators_onexn_does_not_run_get_no_record(quantized, position, fields, why):
    conv = _first_conv(quantized["int8_io"])  # c1: 32 output channels
    edited = _edit_quantization(quantized["int8_io"], conv.operator, position, **fields)
    with pytest.warns(UserWarning, match=why):
        records = read_metadata(annotate(edited))
    assert conv.operator not in [r.operator for r in records] and len(records) == len(VARIED_PLAN) - 1


def test_per_tensor_weight_scale_is_described(quantized):
    conv = _first_conv(quantized["int8_io"])
    edited = _edit_quantization(quantized["int8_io"], conv.operator, 1, scale=np.array([0.01], np.float32),
                                zeroPoint=np.array([0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert conv.operator in [r.operator for r in read_metadata(annotate(edited))]


def test_int8_problems_name_float_and_int16_activations(quantized):
    model = graph.read_model(quantized["int8_io"])
    subgraph, conv = model.subgraphs[0], _first_conv(quantized["int8_io"])
    x = subgraph.tensors[conv.op.inputs[0]]
    x.type = graph.FLOAT32
    assert "dynamic-range" in int8.problems(model, subgraph, conv.op, 32)[0]
    x.type = graph.schema.TensorType.INT16
    assert int8.problems(model, subgraph, conv.op, 32) == ["the input is INT16, not int8"]


def test_requantization_scales_are_xnnpack_float_order():
    # (0.1 * 3) / 0.7 and 0.1 * (3 / 0.7) round differently in float32: the first is what XNNPACK computes.
    sx, sw, so = np.float32(0.1), np.float32(3.0), np.float32(0.7)
    got = int8.requantization_scales(sx, [sw], so)[0]
    assert got == np.float32(np.float32(sx * sw) / so) and got != np.float32(sx * np.float32(sw / so))


# --- int8 records that lie or are damaged: verify names the problem ---

@pytest.fixture(scope="module")
def annotated(quantized):
    return annotate(quantized["int8_io"])


def _with_records(tflite, records):
    model = graph.read_model(tflite)
    (entry,) = [m for m in model.metadata if graph.name_of(m) == metadata.ENTRY_NAME]
    model.buffers[entry.buffer].data = np.frombuffer(metadata.encode_entry(records), np.uint8)
    return graph.write_model(model)


def _set_weight(tflite, record, edit):
    model = graph.read_model(tflite)
    tensor = model.subgraphs[0].tensors[record.weight_tensor]
    weight = graph.constant(model, tensor).copy()
    edit(weight)
    model.buffers[tensor.buffer].data = np.frombuffer(weight.tobytes(), np.uint8)
    return graph.write_model(model)


def test_verify_reports_lying_int8_records(annotated):
    records = read_metadata(annotated)
    r = records[0]
    g = int(np.flatnonzero(np.diff(r.group_ptr) < r.cin)[0])
    c = int(np.setdiff1d(np.arange(r.cin), r.kept_cin[g])[0])

    def fill(w):
        w[g * r.n, 0, 0, c] = 1

    problems = verify.verify(_set_weight(annotated, r, fill))[0].problems
    assert "CRC-32" in problems[0] and f"first: group {g}, input channel {c}" in problems[1]
    as_float = dataclasses.replace(r, weight_type=metadata.WEIGHT_FLOAT32)
    (problem,) = verify.verify(_with_records(annotated, [as_float] + records[1:]))[0].problems
    assert "weight tensor is int8" in problem and "the record says float32" in problem
    compact = dataclasses.replace(r, encoding=metadata.ENCODING_SPARSE)
    (problem,) = verify.verify(_with_records(annotated, [compact] + records[1:]))[0].problems
    assert "unknown value or combination" in problem
    with pytest.warns(UserWarning, match="skipping"):
        assert read_metadata(_with_records(annotated, [compact] + records[1:])) == records[1:]


def test_verify_reports_an_int8_record_on_a_float_weight(quantized):
    model, _ = build_varied_model()
    plain = convert(model)
    floats = read_metadata(plain)
    lying = [dataclasses.replace(r, weight_type=metadata.WEIGHT_INT8) for r in floats]
    checks = verify.verify(_with_records(plain, lying))
    assert all("weight tensor is float32" in c.problems[0] and "the record says int8" in c.problems[0]
               for c in checks)


def test_int8_record_on_float_activations_is_a_problem(quantized, annotated):
    hybrid = _tf_convert(quantized["model"], False, dataset=False)
    with pytest.warns(UserWarning):
        base = annotate(hybrid)
    model = graph.read_model(hybrid)
    conv = _first_conv(hybrid)
    weight = graph.constant(model, model.subgraphs[0].tensors[conv.weight_tensor])
    record = metadata.record_for_weight(weight, 16, subgraph=0, operator=conv.operator, builtin_op=conv.builtin_op,
                                        weight_tensor=conv.weight_tensor)
    assert record.weight_type == metadata.WEIGHT_INT8
    checks = {c.record.operator: c for c in verify.verify(_with_records(base, read_metadata(base) + [record]))}
    assert "dynamic-range" in checks[conv.operator].problems[0]
