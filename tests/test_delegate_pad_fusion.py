"""A float PAD of zeros around the image, read only by the CONV_2D or MAX_POOL_2D after it, is folded into
that layer's padding (src/pad_fusion.h): the padded copy is never made. The report lists the pairs under
``folded_pads``; results must be the stock runtime's, and the unfused delegate's but for float rounding (a
pixel-vector kernel may add the taps in another order over the image without padding; a max pool over
values never negative loses nothing by leaving the padding out: bit for bit).
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata


def _run(tflite, threads=1, resize=None, input_shapes=None, **options):
    inputs = random_inputs(tflite)
    if input_shapes is not None:
        rng = np.random.default_rng(7)
        inputs = [rng.standard_normal(s).astype(np.float32) for s in input_shapes]
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate], num_threads=threads, resize=resize)
    assert_close(got, run(tflite, inputs, num_threads=threads, resize=resize))
    return read_report(delegate), got


def _pad_conv(seed=0, paddings=((0, 0), (1, 1), (1, 1), (0, 0)), stride=1, padding="valid", k=3, c=8):
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input([1, 11, 9, c])
    p = g.pad(x, list(paddings))
    cin = c + sum(paddings[3])
    y = g.conv(p, sparse_weight(rng, (16, k, k, cin), 4), rng.standard_normal(16), stride=(stride, stride),
               padding=padding, activation="relu", name="conv")
    return with_metadata(g.finish(y), 4)


def _stem(seed=1, act="relu", kind="max", pool_padding="valid"):
    """ResNet's stem: a convolution, a PAD of one pixel around, a 3x3/2 pool."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input([1, 12, 10, 3])
    a = g.conv(x, sparse_weight(rng, (16, 3, 3, 3), 4), rng.standard_normal(16), activation=act, name="conv")
    p = g.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]])
    y = g.pool(p, kind, filter=(3, 3), stride=(2, 2), padding=pool_padding)
    z = g.conv(y, sparse_weight(rng, (16, 1, 1, 16), 4), rng.standard_normal(16), name="conv2")
    return with_metadata(g.finish(z), 4)


CONV_CASES = {
    "around, VALID": dict(),
    "after only, stride 2 (MobileNet's correct_pad)": dict(paddings=((0, 0), (0, 1), (0, 1), (0, 0)), stride=2),
    "uneven, 5x5 window": dict(paddings=((0, 0), (2, 0), (1, 3), (0, 0)), k=5),
    "on top of SAME padding": dict(padding="same"),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CONV_CASES)
def test_a_pad_before_a_convolution_becomes_its_padding(case, threads):
    tflite = _pad_conv(**CONV_CASES[case])
    report, got = _run(tflite, threads)
    assert report["folded_pads"] == [[0, 1]] and report["partitions"] == 1, report
    apart_report, apart = _run(tflite, threads, fuse="0")
    assert apart_report["folded_pads"] == []
    np.testing.assert_allclose(got[0], apart[0], rtol=1e-5, atol=1e-5 * np.abs(apart[0]).max())


@pytest.mark.parametrize("threads", [1, 2])
def test_a_pad_before_a_max_pool_of_relu_outputs_becomes_its_padding(threads):
    tflite = _stem()
    report, got = _run(tflite, threads)
    assert report["folded_pads"] == [[1, 2]] and report["glue_nodes"] == [1, 2], report
    _, apart = _run(tflite, threads, fuse="0")
    np.testing.assert_array_equal(got[0], apart[0])


def test_a_resized_input_folds_again():
    tflite = _pad_conv()
    report, _ = _run(tflite, resize={0: [2, 7, 13, 8]}, input_shapes=[[2, 7, 13, 8]])
    assert report["folded_pads"] == [[0, 1]]


@pytest.mark.parametrize(
    "why, tflite",
    [
        # max(0, x) over the padding's zeros differs from the valid taps' max when they are all negative
        ("a max pool of values that may be negative", _stem(act=None)),
        ("an average pool: the padding's zeros would count", _stem(kind="average")),
        ("padded channels", _pad_conv(paddings=((0, 0), (1, 1), (1, 1), (0, 2)))),
    ],
)
def test_other_pads_stay_a_step_of_their_own(why, tflite):
    report, _ = _run(tflite)
    assert report["folded_pads"] == [], why
    assert report["partitions"] == 1, why


def test_a_padded_tensor_read_elsewhere_stays():
    rng = np.random.default_rng(3)
    g = GraphBuilder()
    x = g.input([1, 8, 8, 8])
    p = g.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    y = g.conv(p, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16), padding="valid", name="conv")
    report, got = _run(with_metadata(g.finish([y, p]), 4))
    assert report["folded_pads"] == [] and [o.shape for o in got] == [(1, 8, 8, 16), (1, 10, 10, 8)], report
