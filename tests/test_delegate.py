"""The onexn delegate gives the stock runtime's results on the nodes it claims, and claims the right nodes.

Every comparison runs the same model and input twice, once on the stock runtime (which applies XNNPACK)
and once with the onexn delegate, and also checks the delegate's report so that an equality can never
come from the delegate silently declining the node.
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import delegate_report, load_delegate, read_report

from test_delegate_models import (GraphBuilder, assert_close, conv_model, fc_model, random_inputs, run,
                                  sparse_weight, with_metadata)

ISA_SUFFIX = {"scalar": "-scalar", "avx2": "-avx2", "avx512": "-avx512f", "neon": "-neon"}
# Kernel families may borrow a narrower ISA's kernel where wide vectors would be mostly padding (the
# AVX-512 family runs few-pixel layers such as batch-1 FULLY_CONNECTED with the xmm 8x4-avx2 kernel).
ISA_SUFFIXES = {"scalar": ("-scalar",), "avx2": ("-avx2",), "avx512": ("-avx512f", "-avx2"), "neon": ("-neon",)}


def _available(kernel):
    try:
        load_delegate(dense="never", kernel=kernel)
    except ValueError:
        return False
    return True


AVAILABLE_KERNELS = [k for k in ISA_SUFFIX if _available(k)]


def check(tflite, claimed, *, runtime="litert", resize=None, input_shapes=None, num_threads=None, **options):
    """Asserts delegate == stock and the claimed count; returns the delegate's report."""
    inputs = random_inputs(tflite, runtime=runtime)
    if input_shapes is not None:
        rng = np.random.default_rng(7)
        inputs = [rng.standard_normal(s).astype(np.float32) for s in input_shapes]
    want = run(tflite, inputs, runtime=runtime, resize=resize, num_threads=num_threads)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate], runtime=runtime, resize=resize, num_threads=num_threads)
    report = read_report(delegate)
    assert report["claimed"] == claimed, report
    assert_close(got, want)
    return report


CONV_CASES = {
    "1x1": dict(k=(1, 1), n=4),
    "3x3_relu": dict(k=(3, 3), n=8, activation="relu"),
    "5x5_valid_relu6": dict(k=(5, 5), n=16, cout=48, padding="valid", activation="relu6", size=(11, 11)),
    "3x3_stride2_odd_same": dict(k=(3, 3), stride=(2, 2), n=2, size=(11, 11)),
    "3x3_stride2_valid": dict(k=(3, 3), stride=(2, 2), padding="valid", n=4, size=(10, 10)),
    "3x3_dilation2_relu_n1_to_1": dict(k=(3, 3), dilation=(2, 2), n=1, cout=12, activation="relu_n1_to_1"),
    "3x3_dilation_2x1_valid": dict(k=(3, 3), dilation=(2, 1), padding="valid", n=8, size=(12, 9)),
    "zero_bias": dict(k=(3, 3), n=8, bias=False),
    "1x3_stride_2x1_cout_not_multiple": dict(k=(1, 3), stride=(2, 1), n=4, cout=30),
    "3x1_n16_cout20": dict(k=(3, 1), n=16, cout=20),
    "batch3": dict(k=(1, 1), batch=3, n=4, cin=24),
    "2x2_stride2_even_same": dict(k=(2, 2), stride=(2, 2), n=16, cout=64, size=(8, 8)),
    "n32": dict(k=(1, 1), n=32, cout=64, cin=8),
    "dense_blocks_kept": dict(k=(3, 3), n=4, keep=0.95),
    "very_sparse": dict(k=(3, 3), n=4, keep=0.05),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_stock(case):
    check(conv_model(**CONV_CASES[case]), claimed=1)


FC_CASES = {
    "batch1_cout_not_multiple": dict(input_shape=(1, 64), n=4, cout=10),
    "batch5_relu": dict(input_shape=(5, 64), n=8, cout=24, activation="relu"),
    "keep_num_dims_3d_relu6": dict(input_shape=(2, 3, 32), n=4, cout=16, keep_num_dims=True, activation="relu6"),
    "3d_input_flattened_rows": dict(input_shape=(2, 3, 32), n=2, cout=16),
    "no_bias_n16": dict(input_shape=(4, 48), n=16, cout=40, bias=False),
    "n1_relu_n1_to_1": dict(input_shape=(3, 40), n=1, cout=7, activation="relu_n1_to_1"),
}


@pytest.mark.parametrize("case", FC_CASES)
def test_fully_connected_matches_stock(case):
    check(fc_model(**FC_CASES[case]), claimed=1)


COMPACT_CASES = ["1x1", "3x3_relu", "5x5_valid_relu6", "3x3_dilation2_relu_n1_to_1", "2x2_stride2_even_same"]


@pytest.mark.parametrize("case", COMPACT_CASES)
def test_compact_conv_matches_stock(case):
    from onexn_tf.tflite import verify
    from onexn_tf.tflite.annotate import annotate

    tflite = conv_model(**CONV_CASES[case])
    n = verify.read_metadata(tflite)[0].n
    compact = annotate(_without_entry(tflite), n=n, compact=True)
    assert [r.encoding for r in verify.read_metadata(compact)] == [1]
    report = check(compact, claimed=1)
    assert report["kernels"][0]["densify_node"] == 0


@pytest.mark.parametrize("case", [
    dict(input_shape=(5, 64), n=8, cout=24, activation="relu"),
    dict(input_shape=(2, 3, 32), n=4, cout=16, keep_num_dims=True, activation="relu6"),
    dict(input_shape=(4, 48), n=16, cout=32, bias=False),
])
def test_compact_fully_connected_matches_stock(case):
    from onexn_tf.tflite import verify
    from onexn_tf.tflite.annotate import annotate

    compact = annotate(_without_entry(fc_model(**case)), n=case["n"], compact=True)
    assert [r.encoding for r in verify.read_metadata(compact)] == [1]
    report = check(compact, claimed=1)
    assert report["kernels"][0]["densify_node"] == 0


def _without_entry(tflite):
    from onexn_tf.tflite import metadata as onexn_metadata
    from onexn_tf.tflite import graph

    model = graph.read_model(tflite)
    model.metadata = [m for m in model.metadata if graph.name_of(m) != onexn_metadata.ENTRY_NAME]
    return bytes(graph.write_model(model))


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
def test_each_available_kernel_matches_stock_and_is_used(kernel):
    models = [
        conv_model(k=(3, 3), stride=(2, 2), n=4, size=(13, 13), cout=36),
        conv_model(k=(1, 1), n=16, cout=48, size=(7, 7)),
        conv_model(k=(3, 3), n=1, cout=9),
        fc_model(input_shape=(5, 72), n=8, cout=30, activation="relu"),
    ]
    for tflite in models:
        report = check(tflite, claimed=1, kernel=kernel)
        assert report["isa"] == kernel
        (entry,) = report["kernels"]
        assert entry["kernel"].endswith(ISA_SUFFIXES[kernel]), entry


def test_auto_kernel_picks_an_available_isa():
    report = check(conv_model(n=8), claimed=1)
    assert report["isa"] in AVAILABLE_KERNELS
    assert report["kernels"][0]["kernel"].startswith("f32-")


def test_threads_match_stock_and_follow_the_interpreter():
    tflite = conv_model(k=(3, 3), n=8, cin=32, cout=64, size=(16, 16))
    assert check(tflite, claimed=1, num_threads=2)["num_threads"] == 2  # option given
    assert check(tflite, claimed=1, num_threads=None)["num_threads"] == 1
    # Option unset: the interpreter's thread count.
    inputs = random_inputs(tflite)
    delegate = load_delegate(dense="never")
    assert_close(run(tflite, inputs, [delegate], num_threads=2), run(tflite, inputs, num_threads=2))
    assert read_report(delegate)["num_threads"] == 2


@pytest.mark.parametrize("case", ["3x3_stride2_odd_same", "batch3", "3x3_dilation_2x1_valid"])
def test_tf_lite_runtime_matches_stock(case):
    check(conv_model(**CONV_CASES[case]), claimed=1, runtime="tf")


def test_tf_lite_runtime_fully_connected_keep_num_dims():
    check(fc_model(**FC_CASES["keep_num_dims_3d_relu6"]), claimed=1, runtime="tf")


def _mixed_model():
    """conv(1xN) -> depthwise -> conv(dense) -> conv 1x1 (1xN) -> add -> reshape -> FC(1xN) -> FC(dense)."""
    rng = np.random.default_rng(11)
    g = GraphBuilder()
    x = g.input([1, 8, 8, 12])
    a = g.conv(x, sparse_weight(rng, (16, 3, 3, 12), 4), rng.standard_normal(16), activation="relu", name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16))
    c = g.conv(b, rng.standard_normal((16, 3, 3, 16)).astype(np.float32), None, name="dense_conv")
    d = g.conv(c, sparse_weight(rng, (16, 1, 1, 16), 4), rng.standard_normal(16), name="c3")
    e = g.add(d, a)
    f = g.reshape(e, [1, 8 * 8 * 16])
    h = g.fully_connected(f, sparse_weight(rng, (20, 1024), 4), rng.standard_normal(20), activation="relu",
                          name="fc6")
    y = g.fully_connected(h, rng.standard_normal((10, 20)).astype(np.float32), rng.standard_normal(10),
                          name="dense_fc")
    return with_metadata(g.finish(y), 4)


def test_mixed_model_claims_exactly_the_1xn_nodes():
    # glue="off": only the nodes with a record; the dense conv and FC are declined for lack of one.
    report = check(_mixed_model(), claimed=3, glue="off")
    assert report["claimed_nodes"] == [0, 3, 6]
    assert report["metadata"] == "ok"
    declined = {d["node"]: d for d in report["declined"]}
    assert sorted(declined) == [2, 7]  # the dense conv and the dense FC; depthwise (1) is not theirs
    assert declined[2]["op"] == "CONV_2D" and declined[7]["op"] == "FULLY_CONNECTED"
    assert all("no onexn_1xn record" in d["reason"] for d in declined.values())
    assert [k["node"] for k in report["kernels"]] == [0, 3, 6]
    assert report["dense_nodes"] == [] and report["glue_nodes"] == []


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
def test_mixed_model_runs_whole_with_dense_layers(kernel):
    # By default the dense conv and FC run too, as 1xN layers with every block kept, at the block width of
    # the ISA's dense kernel; depthwise, add and reshape as glue: one partition, stock results.
    report = check(_mixed_model(), claimed=3, kernel=kernel)
    assert report["claimed_nodes"] == [0, 3, 6] and report["declined"] == []
    assert report["dense_nodes"] == [2, 7] and report["glue_nodes"] == [1, 4, 5]
    assert report["partitions"] == 1
    dense = {k["node"]: k for k in report["dense_kernels"]}
    assert dense[2]["op"] == "CONV_2D" and dense[7]["op"] == "FULLY_CONNECTED"
    assert all(k["kernel"].startswith("f32-spconv-") and k["kernel"].endswith(ISA_SUFFIXES[kernel])
               for k in dense.values())
    assert [k["op"] for k in report["glue_kernels"]] == ["DEPTHWISE_CONV_2D", "ADD", "RESHAPE"]


def test_stock_runtime_applies_xnnpack_to_the_rest():
    # The runtime applies its default XNNPACK delegate after ours: the nodes onexn left (with glue="off":
    # depthwise, the dense conv, add/reshape, the dense FC) end up in further DELEGATE nodes, not in slow
    # reference ops.
    from ai_edge_litert.interpreter import Interpreter

    delegate = load_delegate(dense="never", glue="off")
    interpreter = Interpreter(model_content=_mixed_model(), experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    delegates = [op for op in interpreter._get_ops_details() if op["op_name"] == "DELEGATE"]
    assert read_report(delegate)["claimed"] == 3
    assert len(delegates) > 3


def test_resized_input_batch_and_spatial_dims():
    # The conv's input is an intermediate tensor (after ADD): its shape changes only when the runtime
    # prepares the graph again, so the delegate kernel must recompute shapes in its own Prepare.
    rng = np.random.default_rng(5)
    g = GraphBuilder()
    x = g.input([1, 9, 9, 8])
    s = g.add(x, x)
    y = g.conv(s, sparse_weight(rng, (24, 3, 3, 8), 8), rng.standard_normal(24), stride=(2, 2))
    tflite = with_metadata(g.finish(y), 8)
    for shape in ([3, 9, 9, 8], [2, 13, 6, 8], [1, 4, 4, 8]):
        report = check(tflite, claimed=1, resize={0: shape}, input_shapes=[shape])
        assert report["kernels"][0]["kernel"]


def test_fully_connected_resized_rows():
    tflite = fc_model(input_shape=(1, 64), n=8, cout=16)
    check(tflite, claimed=1, resize={0: [7, 64]}, input_shapes=[[7, 64]])


def test_repeated_invokes_use_fresh_inputs():
    from ai_edge_litert.interpreter import Interpreter

    tflite = conv_model(n=4)
    delegate = load_delegate(dense="never")
    fast = Interpreter(model_content=tflite, experimental_delegates=[delegate])
    stock = Interpreter(model_content=tflite)
    for it in (fast, stock):
        it.allocate_tensors()
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal(fast.get_input_details()[0]["shape"]).astype(np.float32)
        outs = []
        for it in (fast, stock):
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
            outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
        assert_close([outs[0]], [outs[1]])
    assert read_report(delegate)["claimed"] == 1


def test_reused_delegate_reports_the_latest_interpreter():
    delegate = load_delegate(dense="never")
    first = run(conv_model(n=4), random_inputs(conv_model(n=4)), [delegate])
    assert first and read_report(delegate)["claimed_nodes"] == [0]
    mixed = _mixed_model()
    inputs = random_inputs(mixed)
    assert_close(run(mixed, inputs, [delegate]), run(mixed, inputs))
    report = read_report(delegate)
    assert report["claimed_nodes"] == [0, 3, 6] and report["other_subgraphs"] == []


def test_one_delegate_serves_two_live_interpreters():
    # The delegate numbers graphs in the order it is offered them, so the second interpreter's main graph
    # comes after the first one's; its records are found by matching them against its nodes.
    from ai_edge_litert.interpreter import Interpreter

    mixed = _mixed_model()
    delegate = load_delegate(dense="never", num_threads=2)
    first = Interpreter(model_content=mixed, experimental_delegates=[delegate], num_threads=2)
    second = Interpreter(model_content=mixed, experimental_delegates=[delegate], num_threads=2)
    stock = Interpreter(model_content=mixed)
    for it in (first, second, stock):
        it.allocate_tensors()
    report = read_report(delegate)
    graphs = [report] + report["other_subgraphs"]
    assert [g["claimed_nodes"] for g in graphs] == [[0, 3, 6], [0, 3, 6]]
    assert [g["subgraph"] for g in graphs] == [0, 0] and all(g["metadata"] == "ok" for g in graphs)
    rng = np.random.default_rng(5)
    for it in (first, second, first, second):
        x = rng.standard_normal(it.get_input_details()[0]["shape"]).astype(np.float32)
        outs = []
        for runner in (it, stock):
            runner.set_tensor(runner.get_input_details()[0]["index"], x)
            runner.invoke()
            outs.append(runner.get_tensor(runner.get_output_details()[0]["index"]))
        assert_close([outs[0]], [outs[1]])


def test_delegate_report_summarises_a_model():
    report = delegate_report(_mixed_model(), kernel="scalar", num_threads=2, dense="never")
    assert report["claimed"] == 3 and report["isa"] == "scalar" and report["num_threads"] == 2
    assert report["prepared"] is True
    assert all(k["kernel"].endswith("-scalar") for k in report["kernels"])
    assert report["version"] and report["metadata_version"] == 2  # the newest version the delegate reads


def test_delegate_report_rejects_non_bytes():
    with pytest.raises(TypeError, match="bytes"):
        delegate_report("model.tflite")


def test_verbose_prints_decisions(capfd):
    delegate_report(_mixed_model(), verbose=True, glue="off", dense="never")
    err = capfd.readouterr().err
    assert "onexn: node 0 claimed" in err
    assert "onexn: node 2 CONV_2D declined: no onexn_1xn record" in err
    delegate_report(_mixed_model(), verbose=True, dense="never")
    err = capfd.readouterr().err
    assert "onexn: node 2 claimed as a dense layer" in err and "onexn: node 1 claimed as glue" in err
    assert "onexn: 3 1xN nodes, 2 dense nodes and 3 glue nodes claimed in 1 partition(s)" in err
