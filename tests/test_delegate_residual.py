"""Residual blocks (option fuse): a float CONV_2D, or a depthwise block ending in its projection, whose output
only the ADD right after it reads runs that ADD too, each task adding its pixels as they finish
(src/residual_fusion.h). Results must be the stock runtime's,
and the unfused delegate's bit for bit; the report lists the pairs under ``residual``.
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata


def _bottlenecks(rng, shape=(1, 14, 12, 32), n=4):
    """ResNet's pattern twice: 1x1 -> 3x3 -> 1x1, added to the block's input (the second block with the
    convolution as the ADD's second operand), then a 1x1 whose output is also a graph output and an ADD."""
    c = shape[-1]
    g = GraphBuilder()
    x = g.input(list(shape))
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, c), n), rng.standard_normal(16), activation="relu", name="c0")
    b = g.conv(a, sparse_weight(rng, (16, 3, 3, 16), n), rng.standard_normal(16), activation="relu", name="c1")
    p = g.conv(b, sparse_weight(rng, (c, 1, 1, 16), n), rng.standard_normal(c), name="c2")
    r = g.add(p, x, activation="relu", name="add3")
    q = g.conv(r, sparse_weight(rng, (c, 1, 1, c), n), rng.standard_normal(c), activation="relu6", name="c4")
    s = g.add(r, q, activation="relu6", name="add5")
    e = g.conv(s, sparse_weight(rng, (c, 1, 1, c), n), rng.standard_normal(c), name="c6")
    y = g.add(e, s, name="add7")
    return with_metadata(g.finish([y, e]), n)


def _run(tflite, threads, **options):
    inputs = random_inputs(tflite)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate], num_threads=threads)
    return read_report(delegate), got, run(tflite, inputs, num_threads=threads)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 14, 12, 32), (2, 9, 7, 24), (1, 3, 3, 64)])
def test_residual_adds_run_with_their_convolution(threads, shape):
    # (1, 3, 3, 64): 9 pixels, so the tasks split the channels and the add runs after them.
    tflite = _bottlenecks(np.random.default_rng(sum(shape)), shape)
    report, got, want = _run(tflite, threads)
    # c6's output leaves the graph too: its ADD runs apart.
    assert report["residual"] == [[2, 3], [4, 5]], report["residual"]
    assert report["partitions"] == 1 and report["claimed_nodes"] == [0, 1, 2, 4, 6]
    assert_close(got, want)
    apart_report, apart, _ = _run(tflite, threads, fuse="0")
    assert apart_report["residual"] == []
    for g, a in zip(got, apart):
        np.testing.assert_array_equal(g, a)


def test_a_convolution_read_twice_keeps_its_add_apart():
    rng = np.random.default_rng(5)
    g = GraphBuilder()
    x = g.input([1, 8, 8, 16])
    a = g.conv(x, sparse_weight(rng, (16, 1, 1, 16), 4), rng.standard_normal(16), name="c0")
    y = g.add(a, x, name="add1")
    z = g.conv(a, sparse_weight(rng, (16, 1, 1, 16), 4), rng.standard_normal(16), name="c2")
    w = g.add(a, a, name="add3")  # the same tensor twice: no other operand
    tflite = with_metadata(g.finish([y, z, w]), 4)
    report, got, want = _run(tflite, 2)
    assert report["residual"] == [] and report["glue_nodes"] == [1, 3]
    assert_close(got, want)


def _inverted_residual(rng, shape, project=True, output_too=False):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, 1x1 projection (or none), added to the block's
    input; with output_too the projection's output is a graph output as well."""
    c = shape[-1]
    g = GraphBuilder()
    x = g.input(list(shape))
    a = g.conv(x, sparse_weight(rng, (3 * c, 1, 1, c), 4), rng.standard_normal(3 * c), activation="relu6", name="e")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 3 * c)), rng.standard_normal(3 * c), activation="relu6", name="dw")
    if project:
        p = g.conv(b, sparse_weight(rng, (c, 1, 1, 3 * c), 4), rng.standard_normal(c), name="p")
        y = g.add(x, p, activation="relu", name="add")
    else:
        y = g.add(b, g.input(list(shape[:-1]) + [3 * c], name="other"), name="add")
    outputs = [y, p] if output_too else [y]
    return with_metadata(g.finish(outputs), 4)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 10, 9, 16), (2, 7, 6, 16), (1, 28, 5, 8)])
def test_a_depthwise_blocks_projection_runs_its_add(threads, shape):
    # MobileNetV2's projection runs inside the depthwise block, which adds the block's input to its rows.
    tflite = _inverted_residual(np.random.default_rng(sum(shape)), shape)
    report, got, want = _run(tflite, threads)
    # Short images at several threads leave the expansion apart (depthwise_fusion.cc): the rest is one block.
    assert report["fused"] in ([[0, 1, 2, 3]], [[1, 2, 3]]) and report["residual"] == [[2, 3]], report
    assert threads > 1 or report["fused"] == [[0, 1, 2, 3]]
    assert_close(got, want)
    apart_report, apart, _ = _run(tflite, threads, fuse="0")
    assert apart_report["fused"] == [] and apart_report["residual"] == []
    # Rows that split unevenly over more threads than images (7 over 3, 10 over 3): the block runs cut by
    # channels, its slices' partial sums and the ADD added in another order; bit for bit without the slices.
    uneven = threads > shape[0] and -(-shape[1] // threads) * threads - shape[1] > 0.1 * shape[1]
    assert report["channel_slices"] == ([[0, threads]] if uneven else []), report
    if uneven:
        for g, a in zip(got, apart):
            np.testing.assert_allclose(g, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())
        sliceless_report, got, _ = _run(tflite, threads, channel_slices="0")
        assert sliceless_report["channel_slices"] == [] and sliceless_report["residual"] == [[2, 3]]
    for g, a in zip(got, apart):
        np.testing.assert_array_equal(g, a)


def test_a_depthwise_block_keeps_its_add_apart_without_a_projection_or_when_its_output_leaves():
    rng = np.random.default_rng(9)
    tflite = _inverted_residual(rng, (1, 10, 9, 16), project=False)
    report, got, want = _run(tflite, 2)
    assert report["fused"] == [[0, 1]] and report["residual"] == [], report
    assert_close(got, want)
    tflite = _inverted_residual(rng, (1, 10, 9, 16), output_too=True)
    report, got, want = _run(tflite, 2)
    assert report["fused"] == [[0, 1, 2]] and report["residual"] == [], report
    assert_close(got, want)
