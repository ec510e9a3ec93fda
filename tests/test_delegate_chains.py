"""Chains of fused blocks (option pipeline, src/block_chain.h): at two threads, consecutive float depthwise
blocks, each reading the one before's output, run as one parallel job, one thread walking them from the
top down and the other from the bottom up. Results must be the stock runtime's and, bit for bit, those of
the blocks run one job each; the report lists each chain's blocks under ``chains``. (int8 chains:
test_delegate_int8.py.)
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata


def _blocks(seed=0, *, shape=(1, 28, 28, 16), batch=None, middle=None, n=16):
    """MobileNetV2's pattern: a block without expansion, a strided block, two residual blocks; `middle`
    ("conv") puts a plain 1x1 convolution between the 2nd and 3rd block."""
    rng = np.random.default_rng(seed)
    shape = (batch or shape[0], *shape[1:])
    g = GraphBuilder()
    x = g.input(list(shape))

    def block(x, cin, cout, *, expand=96, stride=1, add=False, name):
        a = x
        if expand:
            a = g.conv(x, sparse_weight(rng, (expand, 1, 1, cin), n), rng.standard_normal(expand), activation="relu6",
                       name=name + "e")
        mid = expand or cin
        b = g.depthwise(a, rng.standard_normal((1, 3, 3, mid)), rng.standard_normal(mid), stride=(stride, stride),
                        activation="relu6", name=name + "dw")
        p = g.conv(b, sparse_weight(rng, (cout, 1, 1, mid), n), rng.standard_normal(cout), name=name + "p")
        return g.add(p, x, name=name + "add") if add else p

    y = block(x, 16, 16, expand=0, name="b0")
    y = block(y, 16, 32, stride=2, name="b1")
    if middle == "conv":
        y = g.conv(y, sparse_weight(rng, (32, 1, 1, 32), n), rng.standard_normal(32), activation="relu6", name="m")
    y = block(y, 32, 32, expand=192, add=True, name="b2")
    y = block(y, 32, 32, expand=192, add=True, name="b3")
    return with_metadata(g.finish(y), n)


def _run(tflite, threads, **options):
    inputs = random_inputs(tflite)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate], num_threads=threads)
    assert_close(got, run(tflite, inputs, num_threads=threads))
    return read_report(delegate), got


def _assert_bits_of_steps_apart(tflite, threads, report, got):
    """The same bits as the blocks one job each (pipeline=0, the same fusions) and as one thread."""
    unchained, apart = _run(tflite, threads, pipeline="0")
    assert unchained["chains"] == [] and unchained["fused"] == report["fused"], unchained
    np.testing.assert_array_equal(got[0], apart[0])
    _, one = _run(tflite, 1)
    np.testing.assert_array_equal(got[0], one[0])


def _assert_every_invoke_gives_the_same_bits(tflite, invokes=30):
    """One 2-thread interpreter invoked again and again gives pipeline=0's bits each time; returns its report."""
    from ai_edge_litert.interpreter import Interpreter
    inputs = random_inputs(tflite)
    delegate = load_delegate(dense="never")
    want = run(tflite, inputs, [load_delegate(dense="never", pipeline="0")], num_threads=2)
    it = Interpreter(model_content=tflite, experimental_delegates=[delegate], num_threads=2)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], inputs[0])
    for _ in range(invokes):
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), want[0])
    return read_report(delegate)


def _block_starts(report):
    return [nodes[0] for nodes in sorted(report["fused"])]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_consecutive_blocks_run_as_one_chain_at_two_threads(threads):
    tflite = _blocks()
    report, got = _run(tflite, threads)
    assert report["partitions"] == 1 and len(report["fused"]) == 4, report
    assert report["chains"] == ([_block_starts(report)] if threads == 2 else []), report
    # No block here is cut by channels, so one thread gives the same bits too.
    _assert_bits_of_steps_apart(tflite, threads, report, got)


def test_every_invoke_gives_the_same_bits():
    # The threads meet at other rows from one invoke to the next; no result may depend on where.
    report = _assert_every_invoke_gives_the_same_bits(_blocks(1, shape=(1, 40, 24, 16)))
    assert report["chains"], report


def test_a_step_between_blocks_ends_the_chain():
    report, _ = _run(_blocks(2, middle="conv"), 2)
    starts = _block_starts(report)
    # b0 -> b1, then the plain convolution, then b2 -> b3: two chains of two.
    assert report["chains"] == [starts[:2], starts[2:]], report


def test_two_images_are_not_chained():
    report, _ = _run(_blocks(3, batch=2), 2)
    assert report["chains"] == [] and len(report["fused"]) == 4, report


def _v1_layers(seed=0, n=16):
    """MobileNetV1's pattern, depthwise and pointwise layers in turn: at two threads the strided depthwise
    layers (their projections too heavy to fuse) are left alone between blocks; the last one, VALID, leaves its
    input's last row unread."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    y = g.input([1, 28, 28, 32])
    for k, (cin, cout, stride, padding) in enumerate(
            [(32, 64, 1, "same"), (64, 128, 2, "same"), (128, 128, 1, "same"), (128, 128, 2, "valid")]):
        y = g.depthwise(y, rng.standard_normal((1, 3, 3, cin)), rng.standard_normal(cin), stride=(stride, stride),
                        padding=padding, activation="relu6", name=f"dw{k}")
        y = g.conv(y, sparse_weight(rng, (cout, 1, 1, cin), n), rng.standard_normal(cout), activation="relu6",
                   name=f"pw{k}")
    return with_metadata(g.finish(y), n)


def test_depthwise_layers_alone_join_the_chain():
    tflite = _v1_layers()
    report, got = _run(tflite, 2)
    fused = {node for nodes in report["fused"] for node in nodes}
    alone = [node for node in (0, 2, 4, 6) if node not in fused]  # the depthwise layers (even nodes)
    assert alone and len(report["chains"]) == 1, report
    assert set(alone) <= set(report["chains"][0]) and len(report["chains"][0]) >= 3, report
    # The same bits as the layers one job each and as one thread, invoke after invoke (the chain's tensors
    # share the arena's bytes a block apart).
    _assert_bits_of_steps_apart(tflite, 2, report, got)
    assert _assert_every_invoke_gives_the_same_bits(tflite)["chains"] == report["chains"]


def test_a_depthwise_layer_alone_with_no_block_next_to_it_is_not_chained():
    rng = np.random.default_rng(4)
    g = GraphBuilder()
    x = g.input([1, 20, 20, 16])
    y = g.conv(x, sparse_weight(rng, (32, 3, 3, 16), 16), rng.standard_normal(32), activation="relu6", name="c0")
    y = g.depthwise(y, rng.standard_normal((1, 3, 3, 32)), rng.standard_normal(32), activation="relu6", name="dw")
    y = g.conv(y, sparse_weight(rng, (32, 3, 3, 32), 16), rng.standard_normal(32), name="c1")
    report, _ = _run(with_metadata(g.finish(y), 16), 2)
    assert report["chains"] == [] and report["fused"] == [], report
