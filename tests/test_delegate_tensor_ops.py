"""MAX_POOL_2D, AVERAGE_POOL_2D, MEAN over height and width, PAD / PADV2, CONCATENATION, RESHAPE and SOFTMAX on
the delegate's kernels give the stock runtime's results, alone (glue="all") and between 1xN nodes, on every
kernel family, after resizes and on any number of threads; what they cannot take is declined with its reason.

Exactness against the stock runtime (which runs these operators with XNNPACK): max pooling, padding,
concatenation and reshape copy or compare values, so they are bit for bit equal. Average pooling (and MEAN,
an average pooling over the whole image) sums the valid taps in another order than XNNPACK: within 1e-6 of
the output's magnitude. Softmax computes exp with its own polynomial (libm's expf in the scalar kernel), as
XNNPACK does with another: within 1e-6 absolute (outputs are in [0, 1])."""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate import AVAILABLE_KERNELS, ISA_SUFFIXES
from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata

EXACT, CLOSE, SOFTMAX = "exact", "close", "softmax"


def _compare(got, want, exactness):
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        if exactness == EXACT:
            np.testing.assert_array_equal(g, w)
        elif exactness == CLOSE:
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-6 * max(float(np.abs(w).max()), 1.0))
        else:
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)


def _single(build, input_shapes):
    """A model of the operators `build(g, inputs)` adds to graph inputs of these shapes (no 1xN node)."""
    g = GraphBuilder()
    xs = [g.input(list(s), name=f"x{i}") for i, s in enumerate(input_shapes)]
    return g.finish(build(g, xs))


def _check(tflite, exactness, *, glue_ops, resize=None, num_threads=None, **options):
    """Delegate (glue="all": the operators alone) == stock; returns the report."""
    inputs = random_inputs(tflite)
    if resize is not None:
        rng = np.random.default_rng(5)
        inputs = [rng.standard_normal(resize[i]).astype(np.float32) for i in range(len(inputs))]
    want = run(tflite, inputs, resize=resize, num_threads=num_threads)
    delegate = load_delegate(dense="never", glue="all", **options)
    got = run(tflite, inputs, [delegate], resize=resize, num_threads=num_threads)
    report = read_report(delegate)
    assert [k["op"] for k in report["glue_kernels"]] == glue_ops, report
    assert report["declined"] == [] and report["partitions"] == 1
    _compare(got, want, exactness)
    return report


POOLS = {
    "max_3x3_s2_same": ("max", (3, 3), (2, 2), "same", None, [1, 11, 10, 19]),
    "max_3x3_s2_valid_resnet": ("max", (3, 3), (2, 2), "valid", None, [2, 18, 18, 64]),
    "max_2x3_s1x2_same_relu": ("max", (2, 3), (1, 2), "same", "relu", [1, 7, 9, 17]),
    "max_window_larger_than_image_same": ("max", (5, 5), (1, 1), "same", "relu6", [3, 3, 4, 8]),
    "avg_3x3_s1_same": ("avg", (3, 3), (1, 1), "same", None, [1, 9, 8, 33]),
    "avg_2x2_s2_valid_relu6": ("avg", (2, 2), (2, 2), "valid", "relu6", [2, 8, 9, 16]),
    "avg_global_7x7_valid": ("avg", (7, 7), (1, 1), "valid", "relu_n1_to_1", [2, 7, 7, 40]),
    "avg_1x4_s3x1_same": ("avg", (1, 4), (3, 1), "same", None, [1, 10, 5, 3]),
}


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
@pytest.mark.parametrize("case", POOLS)
def test_pooling_alone(case, kernel):
    kind, filt, stride, padding, act, shape = POOLS[case]
    tflite = _single(lambda g, xs: g.pool(xs[0], kind, filt, stride, padding, act), [shape])
    report = _check(tflite, EXACT if kind == "max" else CLOSE,
                    glue_ops=["MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D"], kernel=kernel)
    (k,) = report["glue_kernels"]
    assert k["kernel"].startswith(f"f32-{kind}pool-minmax-") and k["kernel"].endswith(ISA_SUFFIXES[kernel])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_pooling_resized_and_threaded(threads):
    tflite = _single(lambda g, xs: g.pool(g.pool(xs[0], "max", (3, 3), (2, 2), "same"), "avg", (2, 2), (1, 1),
                                          "valid"), [[1, 12, 12, 24]])
    for shape in ([1, 12, 12, 24], [3, 31, 17, 24], [2, 5, 4, 24]):
        _check(tflite, CLOSE, glue_ops=["MAX_POOL_2D", "AVERAGE_POOL_2D"], resize={0: shape}, num_threads=threads)


MEANS = {
    "mobilenet_head_7x7x1280": ([1, 7, 7, 1280], False),  # whole four-vector channel tiles
    "ragged_channels_keep_dims": ([2, 5, 3, 83], True),   # a masked (or channel by channel) last tile
    "one_pixel": ([3, 1, 1, 20], False),
}


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
@pytest.mark.parametrize("case", MEANS)
def test_mean_alone_runs_the_average_pooling_kernel(case, kernel):
    shape, keep_dims = MEANS[case]
    tflite = _single(lambda g, xs: g.mean(xs[0], axes=(1, 2), keep_dims=keep_dims), [shape])
    report = _check(tflite, CLOSE, glue_ops=["MEAN"], kernel=kernel)
    (k,) = report["glue_kernels"]
    assert k["kernel"].startswith("f32-avgpool-minmax-") and k["kernel"].endswith(ISA_SUFFIXES[kernel])


@pytest.mark.parametrize("threads", [1, 2])
def test_mean_resized(threads):
    tflite = _single(lambda g, xs: g.mean(xs[0], axes=(1, 2), keep_dims=True), [[1, 7, 7, 64]])
    for shape in ([1, 7, 7, 64], [4, 3, 9, 64], [1, 1, 1, 64]):
        _check(tflite, CLOSE, glue_ops=["MEAN"], resize={0: shape}, num_threads=threads)


PADS = {
    "resnet_stem_3": ([1, 9, 9, 3], [[0, 0], [3, 3], [3, 3], [0, 0]], None, np.int32),
    "asymmetric_batch_channels": ([2, 5, 6, 7], [[1, 0], [0, 2], [1, 1], [3, 0]], None, np.int32),
    "int64_paddings": ([2, 4, 3], [[0, 1], [2, 0], [1, 2]], None, np.int64),
    "rank_2": ([3, 5], [[1, 2], [0, 3]], None, np.int32),
    "rank_5": ([1, 2, 3, 4, 2], [[0, 1], [1, 0], [2, 1], [0, 0], [1, 1]], None, np.int32),
    "padv2_zero": ([1, 6, 5, 8], [[0, 0], [1, 0], [0, 1], [0, 0]], 0.0, np.int32),
    "nothing_padded": ([2, 3, 4], [[0, 0], [0, 0], [0, 0]], None, np.int32),
}


@pytest.mark.parametrize("case", PADS)
def test_pad_alone(case):
    shape, paddings, value, dtype = PADS[case]
    tflite = _single(lambda g, xs: g.pad(xs[0], paddings, value=value, dtype=dtype), [shape])
    report = _check(tflite, EXACT, glue_ops=["PAD" if value is None else "PADV2"])
    assert report["glue_kernels"][0]["kernel"] == "f32-pad"


CONCATS = {
    "channels_3_inputs": ([[1, 4, 5, 3], [1, 4, 5, 16], [1, 4, 5, 1]], 3),
    "negative_axis": ([[2, 4, 5, 3], [2, 4, 5, 6]], -1),
    "height": ([[2, 3, 5, 4], [2, 1, 5, 4]], 1),
    "batch": ([[1, 3, 2], [2, 3, 2], [3, 3, 2]], 0),
    "2d_last_axis": ([[3, 5], [3, 7]], 1),
    "one_input": ([[2, 3, 4]], 2),
}


@pytest.mark.parametrize("case", CONCATS)
def test_concatenation_alone(case):
    shapes, axis = CONCATS[case]
    tflite = _single(lambda g, xs: g.concat(xs, axis), shapes)
    report = _check(tflite, EXACT, glue_ops=["CONCATENATION"])
    assert report["glue_kernels"][0]["kernel"] == "f32-concat"


def test_concatenation_of_one_tensor_twice_resized():
    tflite = _single(lambda g, xs: g.concat([xs[0], g.pool(xs[0], "max", (1, 1), (1, 1)), xs[0]], 2),
                     [[1, 3, 4, 5]])
    _check(tflite, EXACT, glue_ops=["MAX_POOL_2D", "CONCATENATION"], resize={0: [2, 6, 3, 5]})


RESHAPES = {
    "shape_input": ([2, 3, 4], [6, 4], True, False),
    "shape_input_minus_one": ([2, 3, 4, 5], [-1, 20], True, False),
    "options_only": ([2, 3, 4], [4, -1], False, True),
    "both": ([1, 1, 1, 1000], [1, 1000], True, True),
    "add_dims": ([6, 4], [2, 3, 2, 2], True, False),
}


@pytest.mark.parametrize("case", RESHAPES)
def test_reshape_alone(case):
    shape, new_shape, shape_input, options = RESHAPES[case]
    tflite = _single(lambda g, xs: g.reshape(xs[0], new_shape, shape_input=shape_input, options=options), [shape])
    report = _check(tflite, EXACT, glue_ops=["RESHAPE"])
    assert report["glue_kernels"][0]["kernel"] == "f32-copy"


def test_reshape_minus_one_follows_a_resize():
    tflite = _single(lambda g, xs: g.reshape(xs[0], [-1, 12]), [[1, 3, 4]])
    _check(tflite, EXACT, glue_ops=["RESHAPE"], resize={0: [5, 3, 4]})


SOFTMAXES = {
    "classifier_1000": ([1, 1000], 1.0),
    "batch_rows": ([4, 10], 1.0),
    "3d_beta_half": ([2, 3, 17], 0.5),
    "4d_beta_2": ([1, 2, 3, 8], 2.0),
    "one_class": ([3, 1], 1.0),
    "ragged_tail": ([2, 37], 1.0),
}


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
@pytest.mark.parametrize("case", SOFTMAXES)
def test_softmax_alone(case, kernel):
    shape, beta = SOFTMAXES[case]
    tflite = _single(lambda g, xs: g.softmax(xs[0], beta), [shape])
    report = _check(tflite, SOFTMAX, glue_ops=["SOFTMAX"], kernel=kernel)
    (k,) = report["glue_kernels"]
    assert k["kernel"].startswith("f32-softmax-") and k["kernel"].endswith(ISA_SUFFIXES[kernel])


def test_softmax_of_large_logits():
    # exp of logits this large overflows: the row's max must be subtracted first.
    tflite = _single(lambda g, xs: g.softmax(xs[0]), [[2, 50]])
    inputs = [(np.random.default_rng(3).standard_normal((2, 50)) * 40 + 300).astype(np.float32)]
    delegate = load_delegate(dense="never", glue="all")
    got = run(tflite, inputs, [delegate])
    assert read_report(delegate)["glue_nodes"] == [0]
    _compare(got, run(tflite, inputs), SOFTMAX)
    assert np.all(np.isfinite(got[0])) and np.allclose(got[0].sum(axis=1), 1.0, atol=1e-5)


def _network(seed=2, n=4):
    """A ResNet-like stem and a classifier around 1xN convolutions: PAD -> conv 3x3/2 (1xN) -> PAD -> max pool
    -> conv 1x1 (1xN) ‖ avg pool -> CONCATENATION -> conv 1x1 (1xN) -> MEAN -> RESHAPE -> FC (1xN) -> SOFTMAX."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input([1, 16, 14, 8])
    p = g.pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]])
    a = g.conv(p, sparse_weight(rng, (16, 3, 3, 8), n), rng.standard_normal(16), stride=(2, 2), padding="valid",
               activation="relu", name="stem")
    b = g.pool(g.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]]), "max", (3, 3), (2, 2), "valid")
    c = g.conv(b, sparse_weight(rng, (24, 1, 1, 16), n), rng.standard_normal(24), activation="relu6", name="c1")
    d = g.concat([c, g.pool(b, "avg", (3, 3), (1, 1), "same")], 3)
    e = g.conv(d, sparse_weight(rng, (32, 1, 1, 40), n), rng.standard_normal(32), name="c2")
    f = g.reshape(g.mean(e, keep_dims=True), [-1, 32])
    y = g.fully_connected(f, sparse_weight(rng, (10, 32), n), rng.standard_normal(10), name="fc")
    return with_metadata(g.finish(g.softmax(y)), n)


NETWORK = _network()
NETWORK_GLUE = ["PAD", "PAD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "CONCATENATION", "MEAN", "RESHAPE", "SOFTMAX"]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [[1, 16, 14, 8], [3, 20, 11, 8]])
def test_network_is_one_partition_with_stock_results(shape, threads):
    inputs = [np.random.default_rng(4).standard_normal(shape).astype(np.float32)]
    resize = {0: shape}
    want = run(NETWORK, inputs, resize=resize, num_threads=threads)
    delegate = load_delegate(dense="never")
    got = run(NETWORK, inputs, [delegate], resize=resize, num_threads=threads)
    report = read_report(delegate)
    assert report["claimed"] == 4 and report["declined"] == [] and report["partitions"] == 1
    assert [k["op"] for k in report["glue_kernels"]] == NETWORK_GLUE
    assert_close(got, want)
    one = run(NETWORK, inputs, [load_delegate(dense="never", num_threads=1)], resize=resize)
    np.testing.assert_array_equal(got[0], one[0])  # any thread count: the same bits


def test_network_without_glue_leaves_the_operators_to_the_stock_runtime():
    inputs = random_inputs(NETWORK)
    delegate = load_delegate(dense="never", glue="off")
    assert_close(run(NETWORK, inputs, [delegate]), run(NETWORK, inputs))
    report = read_report(delegate)
    assert report["claimed"] == 4 and report["glue_nodes"] == [] and report["partitions"] == 4


def _after_conv(build, seed=6):
    """conv 1x1 (1xN, node 0) -> what `build(g, conv output)` adds."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input([1, 6, 5, 8])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 8), 4), rng.standard_normal(16), name="c0")
    return with_metadata(g.finish(build(g, a)), 4)


def _computed_shape(g, a):
    """RESHAPE whose new shape is a graph input: known only at run time."""
    from tensorflow.lite.python import schema_py_generated as schema

    shape = g._tensor([2], "shape", dtype=schema.TensorType.INT32)
    g.inputs.append(shape)
    out = g._tensor([6, 80], "reshaped")
    g._op(schema.BuiltinOperator.RESHAPE, [a, shape], [out])
    return out


DECLINED = {
    "padv2_one": (lambda g, a: g.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]], value=1.0), "only zero padding"),
    "padv2_negative_zero": (lambda g, a: g.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]], value=-0.0),
                            "only zero padding"),
    "concat_relu": (lambda g, a: g.concat([a, a], 3, activation="relu"), "TFLite's kernel refuses it"),
    "reshape_computed_shape": (_computed_shape, "not a constant"),
}


@pytest.mark.parametrize("case", DECLINED)
def test_unsupported_variants_are_declined_with_reasons(case):
    build, why = DECLINED[case]
    tflite = _after_conv(build)
    inputs = random_inputs(tflite)
    if len(inputs) == 2:
        inputs[1] = np.array([6, 80], np.int32)
    delegate = load_delegate(dense="never")
    assert_close(run(tflite, inputs, [delegate]), run(tflite, inputs))
    report = read_report(delegate)
    assert report["claimed_nodes"] == [0] and report["glue_nodes"] == []
    (declined,) = report["declined"]
    assert declined["node"] == 1 and why in declined["reason"], report


def test_concatenation_with_a_graph_input_is_taken():
    tflite = _after_conv(lambda g, a: g.concat([a, g.input([1, 6, 5, 4], "side")], 3))
    inputs = random_inputs(tflite)
    delegate = load_delegate(dense="never")
    assert_close(run(tflite, inputs, [delegate]), run(tflite, inputs))
    report = read_report(delegate)
    assert report["glue_nodes"] == [1] and report["declined"] == [] and report["partitions"] == 1
