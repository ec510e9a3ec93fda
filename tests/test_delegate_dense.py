"""CONV_2D and FULLY_CONNECTED nodes without a 1xN record run on the delegate too, as 1xN layers with every
block kept, in a graph where it claimed a 1xN node (or with glue="all"); their results are the stock
runtime's (to float rounding: XNNPACK sums in another order), and what cannot run dense is declined with
its reason. A model without onexn records stays with the stock runtime entirely.
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate import AVAILABLE_KERNELS, ISA_SUFFIXES
from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata

DENSE_CONVS = {
    # name: (input shape, weight OHWI shape, stride, padding, activation, bias)
    "mobilenet_stem_3x3_s2_3ch": ([1, 17, 16, 3], (32, 3, 3, 3), (2, 2), "same", "relu6", True),
    "resnet_stem_7x7_s2_valid": ([1, 22, 22, 3], (64, 7, 7, 3), (2, 2), "valid", "relu", True),
    "pointwise_24_to_144": ([2, 6, 7, 24], (144, 1, 1, 24), (1, 1), "same", None, True),
    "cout_20_not_a_block_multiple": ([1, 5, 5, 16], (20, 3, 3, 16), (1, 1), "same", "relu_n1_to_1", True),
    "cout_5_below_the_block_width": ([1, 4, 6, 8], (5, 1, 3, 8), (1, 2), "valid", None, False),
}


def _with_1xn(build, input_shape, seed=0):
    """A 1xN node of the same output shape (node 0: the graph has a record; a 1x1 conv, or a FULLY_CONNECTED
    for inputs that are not 4-D), then the nodes `build(g, its output, rng)` adds."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input(list(input_shape))
    c = input_shape[-1]
    if len(input_shape) == 4:
        a = g.conv(x, sparse_weight(rng, (c, 1, 1, c), 1), rng.standard_normal(c), name="one_by_n")
    else:
        a = g.fully_connected(x, sparse_weight(rng, (c, c), 1), rng.standard_normal(c), keep_num_dims=True,
                              name="one_by_n")
    return with_metadata(g.finish(build(g, a, rng)), 1)


def _check(tflite, dense, *, resize=None, num_threads=None, **options):
    inputs = random_inputs(tflite)
    if resize is not None:
        inputs = [np.random.default_rng(2).standard_normal(resize[0]).astype(np.float32)]
    want = run(tflite, inputs, resize=resize, num_threads=num_threads)
    delegate = load_delegate(**options)
    got = run(tflite, inputs, [delegate], resize=resize, num_threads=num_threads)
    report = read_report(delegate)
    assert report["claimed_nodes"] == [0] and report["dense_nodes"] == dense, report
    assert report["declined"] == [] and report["partitions"] == 1
    assert_close(got, want)
    return report, got


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
@pytest.mark.parametrize("case", DENSE_CONVS)
def test_dense_conv(case, kernel):
    shape, wshape, stride, padding, act, bias = DENSE_CONVS[case]

    def build(g, a, rng):
        b = rng.standard_normal(wshape[0]).astype(np.float32) if bias else None
        return g.conv(a, rng.standard_normal(wshape).astype(np.float32), b, stride=stride, padding=padding,
                      activation=act, name="dense")

    report, _ = _check(_with_1xn(build, shape), [1], kernel=kernel)
    (k,) = report["dense_kernels"]
    assert k["op"] == "CONV_2D" and k["kernel"].startswith("f32-spconv-")
    assert k["kernel"].endswith(ISA_SUFFIXES[kernel])


DENSE_FCS = {
    # name: (input shape, cout, keep_num_dims, activation, bias)
    "classifier_1280_to_1000": ([1, 1280], 1000, False, None, True),
    "batch_5_relu": ([5, 48], 24, False, "relu", True),
    "keep_num_dims_3d": ([2, 3, 40], 17, True, "relu6", False),
    "flattened_4d": ([2, 3, 2, 8], 9, False, None, True),
}


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
@pytest.mark.parametrize("case", DENSE_FCS)
def test_dense_fully_connected(case, kernel):
    shape, cout, keep, act, bias = DENSE_FCS[case]
    cin = shape[-1] if keep or len(shape) == 2 else int(np.prod(shape[1:]))

    def build(g, a, rng):
        b = rng.standard_normal(cout).astype(np.float32) if bias else None
        return g.fully_connected(a, rng.standard_normal((cout, cin)).astype(np.float32), b, activation=act,
                                 keep_num_dims=keep, name="dense_fc")

    report, _ = _check(_with_1xn(build, shape), [1], kernel=kernel)
    assert report["dense_kernels"][0]["op"] == "FULLY_CONNECTED"


def _stem_model():
    rng = np.random.default_rng(7)
    return _with_1xn(lambda g, a, r: g.conv(a, rng.standard_normal((24, 3, 3, 3)).astype(np.float32),
                                            rng.standard_normal(24), stride=(2, 2), activation="relu"),
                     [1, 12, 10, 3])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_dense_conv_resized_and_threaded_bit_for_bit(threads):
    tflite = _stem_model()
    for shape in ([1, 12, 10, 3], [3, 20, 9, 3]):
        _, got = _check(tflite, [1], resize={0: shape}, num_threads=threads)
        _, one = _check(tflite, [1], resize={0: shape}, num_threads=1)
        np.testing.assert_array_equal(got[0], one[0])


def test_no_records_no_claims_unless_glue_all():
    rng = np.random.default_rng(8)
    g = GraphBuilder()
    x = g.input([1, 8, 8, 3])
    a = g.conv(x, rng.standard_normal((16, 3, 3, 3)).astype(np.float32), rng.standard_normal(16), stride=(2, 2))
    y = g.fully_connected(g.reshape(a, [1, 256]), rng.standard_normal((10, 256)).astype(np.float32), None)
    plain = g.finish(y)
    inputs = random_inputs(plain)
    want = run(plain, inputs)
    delegate = load_delegate()
    assert_close(run(plain, inputs, [delegate]), want)
    report = read_report(delegate)
    assert report["metadata"] == "absent" and report["dense_nodes"] == [] and report["partitions"] == 0
    assert {d["node"]: d["reason"] for d in report["declined"]} == {0: "model has no onexn_1xn metadata",
                                                                     2: "model has no onexn_1xn metadata"}
    everything = load_delegate(glue="all")
    assert_close(run(plain, inputs, [everything]), want)
    report = read_report(everything)
    assert report["dense_nodes"] == [0, 2] and report["glue_nodes"] == [1] and report["partitions"] == 1


def test_weights_that_are_not_constants_are_declined_with_the_reason():
    # A FULLY_CONNECTED whose weight is a graph input (a MatMul of two activations) cannot be packed.
    from tensorflow.lite.python import schema_py_generated as schema

    def build(g, a, rng):
        w = g.input([12, 12], name="weight")
        out = g._tensor([1, 12], "fc/out")
        g._op(schema.BuiltinOperator.FULLY_CONNECTED, [a, w, -1], [out],
              schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT())
        return out

    tflite = _with_1xn(build, [1, 12])
    inputs = random_inputs(tflite)
    delegate = load_delegate()
    assert_close(run(tflite, inputs, [delegate]), run(tflite, inputs))
    report = read_report(delegate)
    assert report["claimed_nodes"] == [0] and report["dense_nodes"] == []
    (d,) = report["declined"]
    assert d["node"] == 1 and d["op"] == "FULLY_CONNECTED"
    assert d["reason"].startswith("no onexn_1xn record")
    assert "not run as a dense layer: weight is not a constant" in d["reason"]
