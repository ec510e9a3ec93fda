"""onexn_tf.runtime.profile: operators cut out into single-op models compute what they computed in the model."""

import numpy as np
import pytest

import onexn_tf
from onexn_tf.runtime import bench, profile
from onexn_tf.tflite import graph
from onexn_tf.tflite import metadata as onexn_metadata

from test_delegate_models import entry_of, replace_entry

DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()


def _op_names(data):
    model = graph.read_model(data)
    return [graph.OPERATOR_NAMES[graph.builtin_code(model, op)] for op in model.subgraphs[0].operators]


def _chain(data, x):
    """Runs the model operator by operator through single-op models (works for a linear chain)."""
    model = graph.read_model(data)
    for i, op in enumerate(model.subgraphs[0].operators):
        if graph.builtin_code(model, op) == graph.DENSIFY:
            continue
        single = profile.single_op_model(model, i)
        x = bench.run_once(single, x.reshape(bench.make_interpreter(single).get_input_details()[0]["shape"]),
                           delegate=False)
    return x


@pytest.mark.parametrize("encoding", ["plain", "compact"])
def test_single_ops_chained_give_the_model_output(varied, encoding):
    data = varied[encoding]
    if encoding == "compact":
        assert "DENSIFY" in _op_names(data)
    x = varied["x"][:1]
    np.testing.assert_allclose(_chain(data, x), bench.run_once(data, x, delegate=False), rtol=1e-5, atol=1e-5)


def test_single_op_model_keeps_the_weight_and_drops_metadata(varied):
    model = graph.read_model(varied["compact"])
    codes = [graph.builtin_code(model, op) for op in model.subgraphs[0].operators]
    conv = codes.index(graph.CONV_2D)
    single = profile.single_op_model(model, conv)
    assert _op_names(single) == ["CONV_2D"]
    assert onexn_tf.read_metadata(single) == []
    record = next(r for r in onexn_tf.read_metadata(varied["compact"]) if r.operator == conv)
    annotated = onexn_tf.convert(single, n=record.n)
    (again,) = onexn_tf.read_metadata(annotated)
    assert again.n == record.n and again.weight_crc32 == record.weight_crc32 and again.encoding == 0


def test_single_op_model_errors(varied):
    model = graph.read_model(varied["compact"])
    count = len(model.subgraphs[0].operators)
    for bad in (-1, count, True, "0"):
        with pytest.raises(ValueError, match="op_index"):
            profile.single_op_model(model, bad)
    densify = _op_names(varied["compact"]).index("DENSIFY")
    with pytest.raises(ValueError, match="DENSIFY"):
        profile.single_op_model(model, densify)


def test_per_op_stock_only(varied):
    ops = profile.per_op(varied["plain"], runs=2, warmup=0, delegate=False)
    assert [r.node for r in ops.rows] == list(range(len(_op_names(varied["plain"]))))
    assert not any(r.claimed for r in ops.rows) and all(r.stock_ms > 0 for r in ops.rows)
    assert ops.totals()["kept_nodes"] == len(ops.rows)
    with pytest.raises(ValueError, match="delegate=True"):
        profile.per_op(varied["plain"], runs=1, delegate=False, kernel="auto")


@pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
def test_per_op_times_each_claimed_node_with_the_delegate(varied):
    # glue="off": the 1xN nodes only, so the stock runtime keeps the Flatten's RESHAPE.
    report = onexn_tf.delegate_report(varied["plain"], glue="off")
    ops = profile.per_op(varied["plain"], runs=2, warmup=0, glue="off")
    claimed = [r.node for r in ops.rows if r.claimed]
    assert claimed == sorted(report["claimed_nodes"])
    by_node = {k["node"]: k["kernel"] for k in report["kernels"]}
    assert all(r.kernel == by_node[r.node] and r.ratio == r.onexn_ms / r.stock_ms for r in ops.rows if r.claimed)
    text = ops.format()
    assert "claimed by onexn" in text and "kept on the stock runtime" in text
    # A linear chain: XNNPACK gets one partition per maximal run of consecutive nodes onexn leaves.
    flags = [r.claimed for r in ops.rows]
    runs = sum(1 for i, c in enumerate(flags) if not c and (i == 0 or flags[i - 1]))
    assert runs >= 1 and ops.stock_partitions == runs


@pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
def test_per_op_times_glue_and_dense_nodes_too(varied):
    # By default the delegate runs the whole graph: every row is timed with it, the RESHAPE as glue and the
    # last FULLY_CONNECTED, whose record is dropped here, as a dense layer.
    names = _op_names(varied["plain"])
    last_fc = len(names) - 1 - names[::-1].index("FULLY_CONNECTED")
    records = [r for r in onexn_metadata.parse_entry(entry_of(varied["plain"])) if r.operator != last_fc]
    data = replace_entry(varied["plain"], onexn_metadata.encode_entry(records))
    report = onexn_tf.delegate_report(data)
    ops = profile.per_op(data, runs=2, warmup=0)
    assert all(r.claimed and r.onexn_ms > 0 and r.kernel for r in ops.rows)
    assert [r.node for r in ops.rows if r.glue] == report["glue_nodes"] == [names.index("RESHAPE")]
    assert [r.node for r in ops.rows if r.dense] == report["dense_nodes"] == [last_fc]
    assert ops.stock_partitions == 0 and ops.totals()["kept_nodes"] == 0
    assert "(1 dense layers, 1 glue operators among them)" in ops.format()
