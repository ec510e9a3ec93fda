"""The onexn_1xn entry: byte round trip, damaged entries rejected, mismatched records reported by verify."""

import dataclasses
import zlib

import numpy as np
import pytest

import onexn_tf
from onexn_tf import read_metadata
from onexn_tf.tflite import graph, metadata, verify
from onexn_tf.tflite.metadata import MetadataError


def _with_entry(tflite, data):
    """The model with its onexn entry's bytes replaced by `data`."""
    model = graph.read_model(tflite)
    (entry,) = [m for m in model.metadata if graph.name_of(m) == metadata.ENTRY_NAME]
    model.buffers[entry.buffer].data = np.frombuffer(data, np.uint8)
    return graph.write_model(model)


def _reseal(data):
    """Recomputes the header CRC so that a structural error, not the CRC, is what the reader meets."""
    data = bytearray(data)
    data[24:28] = (zlib.crc32(bytes(data[32:])) & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(data)


def _put_u32(data, offset, value):
    data = bytearray(data)
    data[offset:offset + 4] = int(value).to_bytes(4, "little")
    return bytes(data)


@pytest.fixture(scope="module")
def entry(varied):
    return verify.entry_bytes(graph.read_model(varied["plain"]))


def test_round_trip_and_layout(varied, entry):
    records = read_metadata(varied["plain"])
    assert len(records) == 6
    assert metadata.encode_entry(records) == entry
    assert metadata.parse_entry(entry) == records
    header = np.frombuffer(entry[:32], "<u4")
    assert entry[:4] == b"ONXN" and list(header[1:6]) == [1, 32, len(entry), 6, 0]
    assert len(entry) == 32 + sum(r.record_bytes for r in records)
    first = records[0]
    fixed = np.frombuffer(entry, "<u4", 14, 32)
    assert list(fixed) == [first.record_bytes, first.subgraph, first.operator, first.builtin_op, first.weight_tensor,
                           first.encoding, first.n, first.cout, first.kh, first.kw, first.cin, first.num_groups,
                           first.num_kept, first.weight_crc32]
    arrays = np.frombuffer(entry, "<u4", first.num_groups + 1 + first.num_kept, 32 + 56)
    np.testing.assert_array_equal(arrays[:first.num_groups + 1], first.group_ptr)
    np.testing.assert_array_equal(arrays[first.num_groups + 1:], np.concatenate(first.kept_cin))


def test_metadata_error_is_a_value_error_exported_at_top_level():
    assert onexn_tf.MetadataError is MetadataError and issubclass(MetadataError, ValueError)


def _group_ptr_offset():
    return 32 + 56  # first record's group_ptr


DAMAGE = {
    "truncated header": (lambda e, r: e[:20], "truncated"),
    "truncated records": (lambda e, r: e[:-8], "total_bytes .* entry holds"),
    "bad magic": (lambda e, r: b"ONNX" + e[4:], "bad magic"),
    "bad crc": (lambda e, r: e[:40] + bytes([e[40] ^ 1]) + e[41:], "CRC-32"),
    "unknown version": (lambda e, r: _put_u32(e, 4, metadata.VERSION + 1),
                        f"version {metadata.VERSION + 1} is unknown"),
    "version 0": (lambda e, r: _put_u32(e, 4, 0), "version 0 is invalid"),
    "group_ptr not monotone": (lambda e, r: _reseal(_put_u32(e, _group_ptr_offset() + 4, r[0].num_kept + 1)),
                               "group_ptr is not monotone"),
    "kept_cin out of range": (lambda e, r: _reseal(_put_u32(e, _group_ptr_offset() + 4 * (r[0].num_groups + 1),
                                                            r[0].cin)), r"kept_cin of group \d"),
    "n zero": (lambda e, r: _reseal(_put_u32(e, 32 + 24, 0)), "n=0 is outside"),
    "n above 64": (lambda e, r: _reseal(_put_u32(e, 32 + 24, 65)), "n=65 is outside"),
    "num_groups wrong": (lambda e, r: _reseal(_put_u32(e, 32 + 44, r[0].num_groups + 1)), "record_bytes"),
    "record count too high": (lambda e, r: _put_u32(e, 16, len(r) + 1), "record 6 is truncated"),
    "record count too low": (lambda e, r: _put_u32(e, 16, len(r) - 1), "bytes after its 5 records"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_entry_raises(varied, entry, damage):
    records = read_metadata(varied["plain"])
    change, message = DAMAGE[damage]
    damaged = change(entry, records)
    with pytest.raises(MetadataError, match=message):
        metadata.parse_entry(damaged)
    with pytest.raises(MetadataError, match=message):
        read_metadata(_with_entry(varied["plain"], damaged))
    with pytest.raises(MetadataError, match=message):
        verify.verify(_with_entry(varied["plain"], damaged))


def test_unsorted_or_duplicate_records_raise(varied):
    records = read_metadata(varied["plain"])
    twice = metadata.encode_entry(records[:1])  # one record, then append it again by hand
    body = twice[32:] * 2
    header = _put_u32(_put_u32(twice[:32], 12, 32 + len(body)), 16, 2)
    with pytest.raises(MetadataError, match="not sorted .* appears twice"):
        metadata.parse_entry(_reseal(header + body))


def test_two_entries_are_damaged(varied):
    model = graph.read_model(varied["plain"])
    model.metadata.append(model.metadata[-1])
    with pytest.raises(MetadataError, match="2 metadata entries"):
        read_metadata(graph.write_model(model))


def test_not_a_model_is_a_value_error(tmp_path, varied):
    with pytest.raises(ValueError, match="TFL3"):
        read_metadata(b"this is not a flatbuffer at all")
    with pytest.raises(ValueError, match="not a readable TFLite model"):
        read_metadata(varied["plain"][:2000])
    path = tmp_path / "m.tflite"
    path.write_bytes(varied["plain"])
    assert read_metadata(path) == read_metadata(varied["plain"])
    with pytest.raises(ValueError, match="bytes of a .tflite model"):
        read_metadata(12)


def test_unknown_op_or_encoding_is_skipped_not_trusted(varied):
    records = read_metadata(varied["plain"])
    odd = [dataclasses.replace(records[0], encoding=7), dataclasses.replace(records[1], builtin_op=4)] + records[2:]
    tflite = _with_entry(varied["plain"], metadata.encode_entry(odd))
    with pytest.warns(UserWarning, match="skipping"):
        assert read_metadata(tflite) == records[2:]
    checks = verify.verify(tflite)
    assert [c.ok for c in checks] == [False, False, True, True, True, True]
    assert "unknown" in checks[0].problems[0]


def test_verify_accepts_the_converter_output(varied):
    for key in ("plain", "compact"):
        checks = verify.verify(varied[key])
        assert len(checks) == 6 and all(c.ok for c in checks), [c.problems for c in checks]


def _edit_weight(tflite, record, edit):
    """The model with `edit(weight)` applied to a dense recorded weight, record left as it was."""
    model = graph.read_model(tflite)
    tensor = model.subgraphs[record.subgraph].tensors[record.weight_tensor]
    weight = graph.constant_float32(model, tensor).copy()
    edit(weight)
    model.buffers[tensor.buffer].data = np.frombuffer(weight.astype("<f4").tobytes(), np.uint8)
    return graph.write_model(model)


def test_verify_reports_weights_changed_after_conversion(varied):
    records = read_metadata(varied["plain"])
    r = records[0]  # c1, N 16
    g = int(np.flatnonzero(np.diff(r.group_ptr) < r.cin)[0])  # a group with a pruned block
    c = int(np.setdiff1d(np.arange(r.cin), r.kept_cin[g])[0])

    def fill_pruned_block(w):
        w[g * r.n, 0, 0, c] = 1.0

    checks = verify.verify(_edit_weight(varied["plain"], r, fill_pruned_block))
    assert "CRC-32" in checks[0].problems[0]
    assert f"first: group {g}, input channel {c}" in checks[0].problems[1]
    assert all(check.ok for check in checks[1:])

    def scale_kept(w):
        w *= 2.0

    (problem,) = verify.verify(_edit_weight(varied["plain"], r, scale_kept))[0].problems
    assert "CRC-32" in problem


def test_verify_reports_a_wrong_n(varied):
    records = read_metadata(varied["plain"])
    c2 = records[1]  # N 8, cout 24: three groups
    assert (c2.n, c2.num_groups) == (8, 3)
    # Claims N 16 (two groups) but reuses the first two N-8 groups' indices: group 1 now covers channels
    # 16..23, which were N-8 group 2, so its other kept blocks are non-zero outside the index.
    kept = c2.kept_cin[:2]
    wrong = dataclasses.replace(c2, n=16, num_groups=2, num_kept=sum(k.size for k in kept), kept_cin=kept,
                                group_ptr=np.array([0, kept[0].size, kept[0].size + kept[1].size]))
    tflite = _with_entry(varied["plain"], metadata.encode_entry([records[0], wrong] + records[2:]))
    checks = verify.verify(tflite)
    assert not checks[1].ok and "outside the kept index" in checks[1].problems[0]
    assert [c.ok for c in checks] == [True, False, True, True, True, True]


@pytest.mark.parametrize("field,value,message", [
    ("operator", 4, "is builtin 22"),  # the RESHAPE before the first Dense
    ("operator", 99, "operator 99 does not exist"),
    ("weight_tensor", 0, "is not tensor 0"),
    ("subgraph", 3, "subgraph 3 does not exist"),
])
def test_verify_reports_wrong_indices(varied, field, value, message):
    records = read_metadata(varied["plain"])
    wrong = dataclasses.replace(records[3], **{field: value})
    rest = [r for i, r in enumerate(records) if i != 3]
    tflite = _with_entry(varied["plain"], metadata.encode_entry(rest + [wrong]))
    bad = [c for c in verify.verify(tflite) if not c.ok]
    assert len(bad) == 1 and message in bad[0].problems[0]


def test_verify_reports_a_wrong_shape(varied):
    records = read_metadata(varied["plain"])
    wrong = dataclasses.replace(records[3], cin=records[3].cin + 1)
    tflite = _with_entry(varied["plain"], metadata.encode_entry(records[:3] + [wrong] + records[4:]))
    assert "the record says float32" in verify.verify(tflite)[3].problems[0]


def test_verify_reports_changed_sparse_values(varied):
    model = graph.read_model(varied["compact"])
    r = read_metadata(varied["compact"])[0]
    subgraph = model.subgraphs[0]
    (densify,) = [op for op in subgraph.operators if int(op.outputs[0]) == r.weight_tensor]
    source = subgraph.tensors[int(densify.inputs[0])]
    values = np.frombuffer(graph.buffer_bytes(model, source), "<f4") * 2
    model.buffers[source.buffer].data = np.frombuffer(values.astype("<f4").tobytes(), np.uint8)
    (problem,) = verify.verify(graph.write_model(model))[0].problems
    assert "CRC-32" in problem


def test_verify_reports_a_record_on_a_grouped_conv():
    from conftest import prune_layers

    from onexn_tf import convert
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 8))
    model = keras.Model(inputs, keras.layers.Conv2D(16, 3, groups=2, name="conv")(inputs))
    prune_layers(model, {"conv": (4, 0.5)})
    tflite = convert(model)
    assert read_metadata(tflite) == []  # the converter does not describe it
    tflite_model = graph.read_model(tflite)
    (wop,) = graph.weight_ops(tflite_model)
    weight = graph.constant_float32(tflite_model, tflite_model.subgraphs[0].tensors[wop.weight_tensor])
    record = metadata.record_for_weight(weight, 4, subgraph=0, operator=wop.operator, builtin_op=wop.builtin_op,
                                        weight_tensor=wop.weight_tensor)
    tflite_model.metadata.append(graph.schema.MetadataT())
    tflite_model.metadata[-1].name = metadata.ENTRY_NAME
    tflite_model.buffers.append(graph.schema.BufferT())
    tflite_model.buffers[-1].data = np.frombuffer(metadata.encode_entry([record]), np.uint8)
    tflite_model.metadata[-1].buffer = len(tflite_model.buffers) - 1
    (check,) = verify.verify(graph.write_model(tflite_model))
    assert "grouped convolution (8 input channels, filter cin 4)" in check.problems[0]
