"""Fused blocks cut by channels (option channel_slices, src/channel_split.h): at several threads a float
block whose depthwise output rows split unevenly over the threads (MobileNetV2's 7x7 blocks at 2 threads)
runs as one slice of the expanded channels per thread, whose partial sums then add up. Results must be the
stock runtime's and, but for the order of those additions, the unfused delegate's; the report lists the
blocks under ``channel_slices``. A projection's clamp applies to the sum. Every other block keeps its runs
of rows.
"""

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate_models import GraphBuilder, assert_close, random_inputs, run, sparse_weight, with_metadata


def _block(seed=0, *, shape=(1, 7, 7, 32), expand=192, stride=1, add=True, project_act=None, n=16):
    """expansion 1x1 (relu6) -> depthwise 3x3 (relu6) -> projection 1x1 [-> ADD of the block's input]."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    g = GraphBuilder()
    x = g.input(list(shape))
    a = g.conv(x, sparse_weight(rng, (expand, 1, 1, c), n), rng.standard_normal(expand), activation="relu6",
               name="e")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, expand)), rng.standard_normal(expand), stride=(stride, stride),
                    activation="relu6", name="dw")
    p = g.conv(b, sparse_weight(rng, (c, 1, 1, expand), n), rng.standard_normal(c), activation=project_act,
               name="p")
    return with_metadata(g.finish(g.add(p, x, name="add") if add else p), n)


def _run(tflite, threads, **options):
    inputs = random_inputs(tflite)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate], num_threads=threads)
    assert_close(got, run(tflite, inputs, num_threads=threads))
    return read_report(delegate), got


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_7x7_block_runs_in_one_slice_per_thread(threads):
    tflite = _block()
    report, got = _run(tflite, threads)
    # 7 rows over 2 threads: 4 and 3 rows; over 3: 3, 2 and 2. One thread keeps its runs of rows.
    assert report["channel_slices"] == ([] if threads == 1 else [[0, threads]]), report
    assert report["fused"] == [[0, 1, 2, 3]] and report["residual"] == [[2, 3]], report
    assert report["partitions"] == 1
    _, apart = _run(tflite, threads, fuse="0")
    np.testing.assert_allclose(got[0], apart[0], rtol=1e-5, atol=1e-5 * np.abs(apart[0]).max())
    if threads > 1:
        # The partial sums add up in another order than one accumulation: close, not always equal.
        sliceless, whole = _run(tflite, threads, channel_slices="0")
        assert sliceless["channel_slices"] == [] and sliceless["fused"] == [[1, 2, 3]], sliceless
        np.testing.assert_array_equal(whole[0], apart[0])


def test_a_strided_block_without_add_runs_in_slices():
    # MobileNetV2's 14x14 -> 7x7 block: the projection is the block's last step.
    report, _ = _run(_block(1, shape=(1, 14, 14, 32), stride=2, add=False), 2)
    assert report["channel_slices"] == [[0, 2]] and report["fused"] == [[0, 1, 2]], report


def test_a_clamped_projection_clamps_the_sum_of_the_slices():
    # MobileNetV1's last block: relu6 after every layer, no ADD. The clamp applies to the added slices.
    tflite = _block(6, shape=(1, 7, 7, 64), expand=256, add=False, project_act="relu6", n=4)
    report, got = _run(tflite, 2)
    assert report["channel_slices"] == [[0, 2]] and report["fused"] == [[0, 1, 2]], report
    assert got[0].min() == 0.0 and got[0].max() == 6.0, "the case must reach both ends of relu6"
    _, whole = _run(tflite, 2, channel_slices="0")
    np.testing.assert_allclose(got[0], whole[0], rtol=1e-5, atol=1e-5 * np.abs(whole[0]).max())


@pytest.mark.parametrize(
    "why, tflite",
    [
        ("14 rows split evenly", _block(2, shape=(1, 14, 14, 32))),
        ("two images: one per thread", _block(3, shape=(2, 7, 7, 32))),
        ("three 16-channel groups of the expansion do not split in two", _block(4, expand=48)),
        ("the projection clamps and an ADD follows: slices add up before the clamp, the ADD after it",
         _block(5, project_act="relu6")),
    ],
)
def test_other_blocks_keep_their_runs_of_rows(why, tflite):
    report, _ = _run(tflite, 2)
    assert report["channel_slices"] == [], why
    assert report["fused"], why
