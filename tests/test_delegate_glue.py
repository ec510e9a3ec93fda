"""The delegate runs DEPTHWISE_CONV_2D and ADD between its 1xN nodes, so that a MobileNet-like chain is one
partition instead of one per node, and gives the stock runtime's results doing so.

Every comparison checks the report too (which nodes were taken as glue, how many partitions formed), so an
equality can never come from the delegate silently leaving the nodes to the stock runtime.
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata


def _inverted_residual(seed=3, *, size=(10, 9), c=16, expand=48, n=4, act="relu6"):
    """expand 1x1 (1xN) -> depthwise 3x3 -> project 1x1 (1xN) -> add; then a strided block: MobileNetV2's
    pattern, with every glue variant the delegate takes (stride 1/2, SAME/VALID, dilation, activations)."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input([1, size[0], size[1], c])
    a = g.conv(x, sparse_weight(rng, (expand, 1, 1, c), n), rng.standard_normal(expand), activation=act, name="e0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, expand)), rng.standard_normal(expand), activation=act,
                    name="dw1")
    p = g.conv(b, sparse_weight(rng, (c, 1, 1, expand), n), rng.standard_normal(c), name="p2")
    r = g.add(p, x, name="add3")
    e = g.conv(r, sparse_weight(rng, (expand, 1, 1, c), n), rng.standard_normal(expand), activation="relu",
               name="e4")
    d = g.depthwise(e, rng.standard_normal((1, 3, 3, expand)), rng.standard_normal(expand), stride=(2, 2),
                    padding="valid", activation="relu_n1_to_1", name="dw5")
    f = g.depthwise(d, rng.standard_normal((1, 5, 3, expand)), rng.standard_normal(expand), dilation=(2, 1),
                    name="dw6")
    y = g.conv(f, sparse_weight(rng, (24, 1, 1, expand), n), rng.standard_normal(24), name="p7")
    z = g.add(y, y, activation="relu", name="add8")
    return with_metadata(g.finish(z), n)


MODEL = _inverted_residual()
CONVS, GLUE = [0, 2, 4, 7], [1, 3, 5, 6, 8]


def _compare(tflite, *, resize=None, input_shapes=None, num_threads=None, **options):
    inputs = random_inputs(tflite)
    if input_shapes is not None:
        rng = np.random.default_rng(7)
        inputs = [rng.standard_normal(s).astype(np.float32) for s in input_shapes]
    want = run(tflite, inputs, resize=resize, num_threads=num_threads)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate], resize=resize, num_threads=num_threads)
    assert_close(got, want)
    return read_report(delegate), got


def test_chain_becomes_one_partition_with_stock_results():
    report, _ = _compare(MODEL)
    assert report["claimed_nodes"] == CONVS
    assert report["glue_nodes"] == GLUE
    assert report["partitions"] == 1
    kernels = {k["node"]: k["kernel"] for k in report["glue_kernels"]}
    assert all("dwconv" in kernels[i] for i in (1, 5, 6)) and all("vadd" in kernels[i] for i in (3, 8))


def test_glue_off_leaves_them_to_the_stock_runtime():
    report, _ = _compare(MODEL, glue="off")
    assert report["claimed_nodes"] == CONVS and report["glue_nodes"] == []
    assert report["partitions"] == 4  # no two 1xN nodes are neighbours


def test_no_glue_without_a_1xn_node_unless_asked():
    rng = np.random.default_rng(1)
    g = GraphBuilder()
    x = g.input([2, 7, 8, 20])
    a = g.depthwise(x, rng.standard_normal((1, 3, 3, 20)), rng.standard_normal(20), activation="relu6")
    y = g.add(a, x)
    plain = g.finish(y)
    report, _ = _compare(plain)
    assert report["claimed"] == 0 and report["glue_nodes"] == []
    report, _ = _compare(plain, glue="all")
    assert report["glue_nodes"] == [0, 1] and report["partitions"] == 1


@pytest.mark.parametrize("shape", [[2, 10, 9, 16], [1, 17, 6, 16], [3, 5, 5, 16]])
def test_resized_input_replans_shapes_and_arena(shape):
    report, got = _compare(MODEL, resize={0: shape}, input_shapes=[shape])
    assert report["partitions"] == 1 and report["glue_nodes"] == GLUE
    assert got[0].shape[0] == shape[0]


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_give_the_single_thread_result_bit_for_bit(threads):
    # At 3 threads e0's 10 rows split unevenly, so its block runs cut by channels (channel_split.h), adding
    # partial sums in another order; without channel slices every thread count gives one thread's bits.
    _, one = _compare(MODEL, num_threads=1)
    report, many = _compare(MODEL, num_threads=threads)
    assert report["channel_slices"] == ([] if threads == 2 else [[0, 3]])
    np.testing.assert_allclose(many[0], one[0], rtol=1e-5, atol=1e-5 * np.abs(one[0]).max())
    report, many = _compare(MODEL, num_threads=threads, channel_slices="0")
    assert report["channel_slices"] == []
    np.testing.assert_array_equal(one[0], many[0])


def test_intermediate_that_is_also_a_graph_output():
    # The depthwise output leaves the partition (a graph output) and feeds the next 1xN node inside it.
    rng = np.random.default_rng(9)
    g = GraphBuilder()
    x = g.input([1, 6, 6, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16), name="dw1")
    c = g.conv(b, sparse_weight(rng, (8, 1, 1, 16), 4), rng.standard_normal(8), name="c2")
    tflite = with_metadata(g.finish([c, b]), 4)
    report, got = _compare(tflite)
    assert report["glue_nodes"] == [1] and report["partitions"] == 1
    assert [o.shape for o in got] == [(1, 6, 6, 8), (1, 6, 6, 16)]


@pytest.mark.parametrize("keep_dims", [False, True])
def test_global_average_pool_joins_the_classifier(keep_dims):
    # conv (1xN) -> MEAN over H, W -> FC (1xN): one partition, as at the end of MobileNet / ResNet.
    rng = np.random.default_rng(13)
    g = GraphBuilder()
    x = g.input([2, 7, 5, 24])
    a = g.conv(x, sparse_weight(rng, (32, 1, 1, 24), 4), rng.standard_normal(32), activation="relu6", name="c0")
    m = g.mean(a, axes=(2, -3), keep_dims=keep_dims)
    if keep_dims:
        m = g.reshape(m, [2, 32])
    y = g.fully_connected(m, sparse_weight(rng, (10, 32), 4), rng.standard_normal(10), name="fc")
    report, _ = _compare(with_metadata(g.finish(y), 4))
    assert report["glue_nodes"] == ([1, 2] if keep_dims else [1])  # the RESHAPE runs too
    assert report["partitions"] == 1


def test_mean_over_other_axes_is_declined():
    rng = np.random.default_rng(14)
    g = GraphBuilder()
    x = g.input([1, 6, 6, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    y = g.mean(a, axes=(3,), keep_dims=True)
    report, _ = _compare(with_metadata(g.finish(y), 4))
    assert report["glue_nodes"] == []
    assert "height and width" in _declined_reason(report, 1)


def _declined_reason(report, node):
    (d,) = [d for d in report["declined"] if d["node"] == node]
    return d["reason"]


def test_unsupported_glue_is_declined_with_a_reason():
    rng = np.random.default_rng(2)
    g = GraphBuilder()
    x = g.input([1, 6, 6, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 32)), rng.standard_normal(32), name="dw_mult2")
    bias_row = g.input([1, 1, 1, 32], name="row")
    c = g.add(b, bias_row, name="broadcast_add")
    tflite = with_metadata(g.finish(c), 4)
    report, _ = _compare(tflite)
    assert report["claimed_nodes"] == [0] and report["glue_nodes"] == []
    assert "depth multiplier" in _declined_reason(report, 1)
    assert "broadcasting" in _declined_reason(report, 2)


def test_bad_glue_option_is_rejected():
    with pytest.raises(ValueError, match="glue"):
        load_delegate(glue="sometimes")


# Depthwise blocks (option fuse, on by default): [1x1 expansion ->] depthwise [-> 1x1 projection] run as
# one step, through band buffers instead of tensors. Results must be the unfused delegate's, bit for bit.
FUSED = [[0, 1, 2, 3], [4, 5], [6, 7]]  # e0 dw1 p2 and add3; e4 dw5 (dw6 is no projection); dw6 p7 (add8: y + y)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_depthwise_blocks_run_fused_bit_for_bit(threads):
    fused_report, fused = _compare(MODEL, num_threads=threads, channel_slices="0")
    apart_report, apart = _compare(MODEL, num_threads=threads, fuse="0")
    # 3 runs of rows over the 10 rows of e0 would recompute 2 x 2 of them (over 20%): e0 runs apart.
    assert fused_report["fused"] == (FUSED if threads < 3 else [[1, 2, 3]] + FUSED[1:])
    assert fused_report["residual"] == [[2, 3]]
    assert apart_report["fused"] == []
    assert fused_report["partitions"] == apart_report["partitions"] == 1
    np.testing.assert_array_equal(fused[0], apart[0])


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_bands_on_a_tall_image(threads):
    # 64 rows of 40 x 96 floats: the 256 KB band holds 17 of them, so rows move to the band's front and
    # two threads split the rows (each recomputes the window rows at its start).
    tall = _inverted_residual(5, size=(64, 40), c=16, expand=96, n=16)
    fused_report, fused = _compare(tall, num_threads=threads)
    _, apart = _compare(tall, num_threads=threads, fuse="0")
    assert fused_report["fused"] == FUSED
    np.testing.assert_array_equal(fused[0], apart[0])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_depthwise_and_a_heavy_projection_fuse_at_one_thread_only(threads):
    # Without an expansion, a block of a depthwise convolution and a projection of more than 64 x 64 weights
    # runs apart at several threads (faster there, depthwise_fusion.cc); a small projection still fuses.
    rng = np.random.default_rng(21)
    models = {}
    for cout in (96, 16):
        g = GraphBuilder()
        x = g.input([1, 12, 12, 96])
        a = g.depthwise(x, rng.standard_normal((1, 3, 3, 96)), rng.standard_normal(96), name="dw")
        y = g.conv(a, sparse_weight(rng, (cout, 1, 1, 96), 16), rng.standard_normal(cout), name="p")
        models[cout] = with_metadata(g.finish(y), 16)
    heavy_report, heavy = _compare(models[96], num_threads=threads)
    _, heavy_apart = _compare(models[96], num_threads=threads, fuse="0")
    assert heavy_report["fused"] == ([[0, 1]] if threads == 1 else []), heavy_report["fused"]
    np.testing.assert_array_equal(heavy[0], heavy_apart[0])
    small_report, _ = _compare(models[16], num_threads=threads)
    assert small_report["fused"] == [[0, 1]], small_report["fused"]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_heavy_projection_fuses_when_the_expansion_runs_apart(threads):
    # MobileNetV2's 7x7 blocks: at 2 threads the shares of rows would recompute 2 of the 7 expansion rows,
    # so the expansion runs apart; the depthwise, the 160 x 96 projection and the ADD still run as one.
    rng = np.random.default_rng(23)
    g = GraphBuilder()
    x = g.input([1, 7, 7, 160])
    a = g.conv(x, sparse_weight(rng, (96, 1, 1, 160), 16), rng.standard_normal(96), activation="relu6", name="e")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 96)), rng.standard_normal(96), activation="relu6", name="dw")
    p = g.conv(b, sparse_weight(rng, (160, 1, 1, 96), 16), rng.standard_normal(160), name="p")
    model = with_metadata(g.finish(g.add(p, x, name="add")), 16)
    report, fused = _compare(model, num_threads=threads, channel_slices="0")
    _, apart = _compare(model, num_threads=threads, fuse="0")
    assert report["fused"] == ([[0, 1, 2, 3]] if threads == 1 else [[1, 2, 3]]), report["fused"]
    assert report["residual"] == [[2, 3]]
    np.testing.assert_array_equal(fused[0], apart[0])


def test_resized_input_fuses_again():
    report, _ = _compare(MODEL, resize={0: [2, 33, 7, 16]}, input_shapes=[[2, 33, 7, 16]])
    assert report["fused"] == FUSED


def test_intermediate_read_elsewhere_is_not_fused():
    # The expansion output also feeds an ADD (and, in the second graph, leaves as a graph output): the
    # tensor must exist, so the expansion runs apart.
    rng = np.random.default_rng(11)
    g = GraphBuilder()
    x = g.input([1, 8, 8, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16), name="dw1")
    y = g.add(a, b, name="add2")
    report, _ = _compare(with_metadata(g.finish(y), 4))
    assert report["glue_nodes"] == [1, 2] and report["fused"] == []
    g = GraphBuilder()
    x = g.input([1, 8, 8, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16), name="dw1")
    report, got = _compare(with_metadata(g.finish([b, a]), 4))
    assert report["glue_nodes"] == [1] and report["fused"] == []
    assert [o.shape for o in got] == [(1, 8, 8, 16), (1, 8, 8, 16)]
    # The depthwise output is a graph output too: the projection runs apart, the expansion joins.
    g = GraphBuilder()
    x = g.input([1, 8, 8, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16), name="dw1")
    c = g.conv(b, sparse_weight(rng, (8, 1, 1, 16), 4), rng.standard_normal(8), name="c2")
    report, _ = _compare(with_metadata(g.finish([c, b]), 4))
    assert report["fused"] == [[0, 1]]


def test_bad_fuse_option_is_rejected():
    with pytest.raises(ValueError, match="fuse"):
        load_delegate(fuse="maybe")


def _interpreter(tflite, delegate, threads, shape=None):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite, experimental_delegates=[delegate], num_threads=threads)
    if shape is not None:
        it.resize_tensor_input(it.get_input_details()[0]["index"], shape)
    it.allocate_tensors()
    return it


def _invoke(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def test_fused_blocks_survive_a_bigger_pool_after_prepare():
    # One delegate following the interpreters' thread counts: applying it to a 3-thread interpreter gives it
    # a 3-thread pool, which the 1-thread interpreter's blocks (scratch planned for one thread) then run on.
    x = random_inputs(MODEL)[0]
    want = run(MODEL, [x], [load_delegate(dense="never", fuse="0")], num_threads=1)[0]
    shared = load_delegate(dense="never")
    one = _interpreter(MODEL, shared, 1)
    first = _invoke(one, x)
    _interpreter(MODEL, shared, 3)
    assert read_report(shared)["num_threads"] == 3
    np.testing.assert_array_equal(first, want)
    for _ in range(2):  # again and again on the bigger pool
        np.testing.assert_array_equal(_invoke(one, x), want)


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_blocks_batches_and_resizes_bit_for_bit(threads):
    # Batch 3 and a resize after the first invoke: every block is planned again and still gives the
    # unfused delegate's bits, invoke after invoke.
    rng = np.random.default_rng(21)
    fused_d, apart_d = load_delegate(dense="never", num_threads=threads), load_delegate(dense="never", num_threads=threads, fuse="0")
    fused, apart = _interpreter(MODEL, fused_d, threads), _interpreter(MODEL, apart_d, threads)
    for shape in ([1, 10, 9, 16], [3, 12, 9, 16], [2, 7, 20, 16]):
        x = rng.standard_normal(shape).astype(np.float32)
        for it in (fused, apart):
            it.resize_tensor_input(it.get_input_details()[0]["index"], shape)
            it.allocate_tensors()
        for _ in range(2):
            np.testing.assert_array_equal(_invoke(fused, x), _invoke(apart, x))
        assert read_report(fused_d)["fused"] and not read_report(apart_d)["fused"]
