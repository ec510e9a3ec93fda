"""Damaged, unknown or lying onexn metadata: the delegate declines, says why, and the answer stays right.

The base model has two 1xN-pruned convolutions and a 1xN-pruned FULLY_CONNECTED (nodes 0, 2, 4) with a
depthwise conv and a reshape in between; each test breaks the metadata (or the weights) one way.
"""

import dataclasses
import struct
import zlib

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report
from onexn_tf.tflite import graph, verify
from onexn_tf.tflite import metadata as onexn_metadata
from onexn_tf.tflite.annotate import annotate

from test_delegate_models import (GraphBuilder, assert_close, conv_model, entry_of, random_inputs,
                                  replace_entry, run, sparse_weight, with_metadata)

CLAIMABLE = [0, 2, 4]
HEADER = 32


def _base_parts():
    rng = np.random.default_rng(21)
    g = GraphBuilder()
    x = g.input([1, 6, 6, 8])
    a = g.conv(x, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16), activation="relu", name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16))
    c = g.conv(b, sparse_weight(rng, (16, 1, 1, 16), 4), rng.standard_normal(16), name="c2")
    d = g.reshape(c, [1, 576])
    y = g.fully_connected(d, sparse_weight(rng, (12, 576), 4), rng.standard_normal(12), name="fc4")
    return g.finish(y)


PLAIN = _base_parts()
BASE = with_metadata(PLAIN, 4)


def _records(tflite=BASE):
    return onexn_metadata.parse_entry(entry_of(tflite), keep_unknown=True)


def _with_records(records, tflite=BASE):
    return replace_entry(tflite, onexn_metadata.encode_entry(records))


def _fix_crc(entry):
    entry = bytearray(entry)
    entry[24:28] = struct.pack("<I", zlib.crc32(bytes(entry[HEADER:])) & 0xFFFFFFFF)
    return bytes(entry)


def _patch(entry, offset, value, fix_crc=True):
    entry = bytearray(entry)
    entry[offset:offset + 4] = struct.pack("<I", value)
    return _fix_crc(entry) if fix_crc else bytes(entry)


def _weight(tflite, op_index):
    model = graph.read_model(tflite)
    tensor = model.subgraphs[0].tensors[int(model.subgraphs[0].operators[op_index].inputs[1])]
    return graph.constant_float32(model, tensor).copy()


def _with_weight(tflite, op_index, weight):
    model = graph.read_model(tflite)
    tensor = model.subgraphs[0].tensors[int(model.subgraphs[0].operators[op_index].inputs[1])]
    model.buffers[tensor.buffer].data = np.frombuffer(np.ascontiguousarray(weight, "<f4").tobytes(), np.uint8)
    return bytes(graph.write_model(model))


def check(tflite, claimed, **options):
    """Delegate == stock and the claimed nodes; returns {node: reason} of the declined nodes."""
    inputs = random_inputs(tflite)
    want = run(tflite, inputs)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate])
    report = read_report(delegate)
    assert report["claimed_nodes"] == claimed, report
    assert_close(got, want)
    return report, {d["node"]: d["reason"] for d in report["declined"]}


def test_base_model_is_fully_claimed():
    report, declined = check(BASE, CLAIMABLE)
    assert declined == {} and report["metadata"] == "ok"


def test_no_metadata():
    report, declined = check(PLAIN, [])
    assert report["metadata"] == "absent"
    assert sorted(declined) == CLAIMABLE
    assert all(r == "model has no onexn_1xn metadata" for r in declined.values())


ENTRY_DAMAGE = {
    "truncated": (lambda e: e[:-8], "total_bytes"),
    "header_only": (lambda e: e[:HEADER], "total_bytes"),
    "shorter_than_header": (lambda e: e[:20], "truncated"),
    "bad_crc": (lambda e: e[:HEADER + 10] + bytes([e[HEADER + 10] ^ 0x40]) + e[HEADER + 11:], "CRC-32"),
    "bad_magic": (lambda e: b"ONXM" + e[4:], "magic"),
    "unknown_version": (lambda e: _patch(e, 4, onexn_metadata.VERSION + 1, fix_crc=False),
                        f"unknown format version {onexn_metadata.VERSION + 1}"),
    "version_0": (lambda e: _patch(e, 4, 0, fix_crc=False), "version 0"),
    "kept_cin_out_of_range": (lambda e: _patch(e, HEADER + 56 + 4 * 5, 999), "kept_cin"),
    "num_groups_wrong": (lambda e: _patch(e, HEADER + 44, 5), "record_bytes"),
    "unsorted_records": (lambda e: _patch(e, HEADER + 8, 3), "not sorted"),
    "trailing_bytes": (lambda e: _patch(e + b"\0\0\0\0", 12, len(e) + 4), "trailing bytes"),
}


@pytest.mark.parametrize("case", ENTRY_DAMAGE)
def test_damaged_or_unknown_entry_claims_nothing(case):
    damage, why = ENTRY_DAMAGE[case]
    tflite = replace_entry(BASE, damage(entry_of(BASE)))
    report, declined = check(tflite, [])
    assert why in report["metadata"], report["metadata"]
    assert sorted(declined) == CLAIMABLE
    assert all(r.startswith("onexn_1xn metadata not usable: ") and why in r for r in declined.values())


def test_flags_and_reserved_are_ignored():
    entry = entry_of(BASE)
    entry = _patch(_patch(entry, 20, 7, fix_crc=False), 28, 9, fix_crc=False)
    check(replace_entry(BASE, entry), CLAIMABLE)


def _lying_block(tflite):
    """A pruned block of conv 0 made non-zero, with a record whose CRC matches the new weights."""
    records = _records(tflite)
    weight = _weight(tflite, 0)
    keep = records[0].kept_blocks()  # (cin, groups)
    c, g = np.argwhere(~keep)[0]
    weight[g * 4, 1, 1, c] = 0.5
    records[0].weight_crc32 = onexn_metadata.weight_crc32(weight)
    return _with_records(records, _with_weight(tflite, 0, weight))


def _wrong_n(tflite):
    """Conv 0 described at n=8 with the kept channels of the n=4 groups 0, 2, 4, 6 only."""
    r = _records(tflite)[0]
    kept = [r.kept_cin[2 * g] for g in range(r.num_groups // 2)]
    group_ptr = np.concatenate([[0], np.cumsum([len(k) for k in kept])])
    lie = onexn_metadata.Record(
        subgraph=0, operator=0, builtin_op=3, weight_tensor=r.weight_tensor, encoding=0, n=8, cout=r.cout,
        kh=r.kh, kw=r.kw, cin=r.cin, num_groups=len(kept), num_kept=int(group_ptr[-1]),
        weight_crc32=r.weight_crc32, group_ptr=group_ptr, kept_cin=tuple(kept))
    return _with_records([lie] + _records(tflite)[1:], tflite)


def _edit_record(index, **fields):
    def edit(tflite):
        records = _records(tflite)
        for key, value in fields.items():
            setattr(records[index], key, value)
        return _with_records(records, tflite)
    return edit


def _changed_weights(tflite):
    """A kept weight of conv 2 changed after conversion (record untouched)."""
    weight = _weight(tflite, 2)
    weight[np.nonzero(weight)[0][0], 0, 0, np.nonzero(weight)[3][0]] += 1.0
    return _with_weight(tflite, 2, weight)


def _record_for_missing_operator(tflite):
    records = _records(tflite)
    extra = dataclasses.replace(records[2], operator=9)
    return _with_records(records + [extra], tflite)


def _record_on_depthwise(tflite):
    """Conv 2's record moved to the depthwise node 1."""
    records = _records(tflite)
    records[1].operator = 1
    return _with_records(records, tflite)


LIES = {
    "nonzero_weight_in_pruned_block": (_lying_block, 0, "metadata lies"),
    "wrong_n": (_wrong_n, 0, "metadata lies"),
    "wrong_shape_kernel_size": (_edit_record(0, kh=1, kw=1), 0, "weight shape"),
    "wrong_shape_cout": (_edit_record(2, cout=11, num_groups=3), 4, "weight shape"),
    "wrong_weight_tensor": (_edit_record(1, weight_tensor=0), 2, "not the node's input 1"),
    "wrong_builtin_op": (_edit_record(2, builtin_op=3), 4, "metadata says builtin op 3"),
    "weights_changed_after_conversion": (_changed_weights, 2, "CRC-32 mismatch"),
    "wrong_crc": (_edit_record(0, weight_crc32=12345), 0, "CRC-32 mismatch"),
    "unknown_encoding": (_edit_record(1, encoding=7), 2, "unknown weight encoding 7"),
    "unknown_builtin_op": (_edit_record(0, builtin_op=77), 0, "unknown builtin_op 77"),
}


@pytest.mark.parametrize("case", LIES)
def test_lying_or_unusable_record_declines_only_its_node(case):
    make, node, why = LIES[case]
    report, declined = check(make(BASE), [i for i in CLAIMABLE if i != node])
    assert report["metadata"] == "ok"
    assert list(declined) == [node]
    assert why in declined[node], declined[node]


def _negative_zero_blocks(tflite):
    """Every zero weight of conv 0, the pruned blocks' among them, made -0.0, with a record whose CRC matches."""
    records = _records(tflite)
    weight = _weight(tflite, 0)
    weight[weight == 0] = -0.0
    assert np.signbit(weight[weight == 0]).all()
    records[0].weight_crc32 = onexn_metadata.weight_crc32(weight)
    return _with_records(records, _with_weight(tflite, 0, weight))


def test_negative_zero_in_a_pruned_block_is_zero():
    report, declined = check(_negative_zero_blocks(BASE), CLAIMABLE)
    assert declined == {} and report["metadata"] == "ok"


def test_record_for_an_operator_that_does_not_exist():
    report, declined = check(_record_for_missing_operator(BASE), CLAIMABLE)
    assert declined == {9: "metadata names an operator that is not in the execution plan"}


def test_record_on_a_depthwise_node_is_declined():
    report, declined = check(_record_on_depthwise(BASE), [0, 4])
    assert "metadata says builtin op 3 but node 1 is op 4" in declined[1]
    assert 2 not in declined and report["dense_nodes"] == [2]  # its record moved away: it runs dense
    _, declined = check(_record_on_depthwise(BASE), [0, 4], glue="off")
    assert "no onexn_1xn record" in declined[2]


COMPACT = annotate(PLAIN, n=4, compact=True)
COMPACT_OPS = [3, 5, 7]  # the three DENSIFY operators come first


def test_compact_encoding_is_claimed_with_its_densify():
    records = verify.read_metadata(COMPACT)
    assert [(r.operator, r.encoding) for r in records] == [(op, onexn_metadata.ENCODING_SPARSE)
                                                           for op in COMPACT_OPS]
    report, declined = check(COMPACT, COMPACT_OPS)
    assert declined == {}
    # Each DENSIFY joined its node's partition: the dense weight is never materialised.
    assert [(k["node"], k["densify_node"]) for k in report["kernels"]] == [(3, 0), (5, 1), (7, 2)]


def _sparse_values_changed(tflite):
    """One stored value of the first compact weight changed after conversion (record untouched)."""
    model = graph.read_model(tflite)
    densify = model.subgraphs[0].operators[0]
    tensor = model.subgraphs[0].tensors[int(densify.inputs[0])]
    values = graph.buffer_bytes(model, tensor)
    values = np.frombuffer(values, "<f4").copy()
    values[3] += 1.0
    model.buffers[tensor.buffer].data = np.frombuffer(values.tobytes(), np.uint8)
    return bytes(graph.write_model(model))


def _compact_index_lie(tflite):
    """The record of node 5 lists one kept channel fewer than the stored CSR index (CRC left as is)."""
    records = _records(tflite)
    r = records[1]
    g = int(np.argmax([len(k) for k in r.kept_cin]))
    kept = list(r.kept_cin)
    kept[g] = kept[g][1:]
    r.kept_cin = tuple(kept)
    r.group_ptr = np.concatenate([[0], np.cumsum([len(k) for k in kept])])
    r.num_kept -= 1
    return _with_records(records, tflite)


@pytest.mark.parametrize("make,node,why", [
    (_sparse_values_changed, 3, "CRC-32 mismatch"),
    (_compact_index_lie, 5, "CSR"),
    (_edit_record(2, encoding=0), 7, "weight is not a constant tensor"),
])
def test_compact_encoding_lies_are_declined(make, node, why):
    report, declined = check(make(COMPACT), [op for op in COMPACT_OPS if op != node])
    assert list(declined) == [node] and why in declined[node], declined


def test_dense_record_claiming_compact_encoding_is_declined():
    report, declined = check(_edit_record(0, encoding=1)(BASE), [2, 4])
    assert "not the output of a DENSIFY operator" in declined[0]


def test_fully_connected_record_with_a_kernel_size_is_damaged():
    entry = entry_of(BASE)
    records = _records()
    offset = HEADER + records[0].record_bytes + records[1].record_bytes  # the FC record
    entry = _patch(_patch(entry, offset + 32, 3, fix_crc=False), offset + 36, 3)
    report, _ = check(replace_entry(BASE, entry), [])
    assert "FULLY_CONNECTED record needs kh = kw = 1" in report["metadata"]


def test_single_conv_lie_never_gives_a_wrong_answer_across_kernels():
    tflite = _lying_block(conv_model(n=4, cout=16, cin=8))
    for kernel in ("auto", "scalar"):
        inputs = random_inputs(tflite)
        delegate = load_delegate(dense="never", kernel=kernel)
        assert_close(run(tflite, inputs, [delegate]), run(tflite, inputs))
        assert read_report(delegate)["claimed"] == 0


def test_records_of_a_subgraph_the_model_lacks_claim_nothing():
    # A later graph may take the records of a subgraph an earlier graph of this delegate took (a second
    # interpreter of the same model); records naming subgraph 3 of a one-subgraph model are never used.
    records = _records()
    for r in records:
        r.subgraph = 3
    report, declined = check(_with_records(records), [])
    assert report["metadata"] == "ok" and report["subgraph"] == 0
    assert sorted(declined) == CLAIMABLE and all("no onexn_1xn record" in why for why in declined.values())
