"""1xN block masks: shape, exact block count, L1 ordering, numpy == TensorFlow."""

import numpy as np
import pytest

import onexn_tf  # noqa: F401
import tensorflow as tf

from onexn_tf import blocks
from onexn_tf.keras.wrapper import tf_block_mask

SHAPES = [
    ((3, 3, 8, 16), 4),     # 3x3 conv
    ((1, 1, 24, 144), 16),  # MobileNetV2-like 1x1
    ((1, 1, 7, 10), 4),     # cout % n != 0: short last group
    ((5, 3, 6, 12), 2),
    ((3, 3, 5, 6), 1),      # N=1: one output channel over the whole window
    ((40, 24), 8),          # Dense (cin, cout)
]


def _blocks_view(kernel, n):
    """(kh, kw, cin, groups, n) view with the padded lanes set to NaN, for per-block assertions."""
    hwio = kernel if kernel.ndim == 4 else kernel[None, None]
    kh, kw, cin, cout = hwio.shape
    groups = -(-cout // n)
    padded = np.full((kh, kw, cin, groups * n), np.nan, dtype=np.float64)
    padded[..., :cout] = hwio
    return padded.reshape(kh, kw, cin, groups, n)


@pytest.mark.parametrize("shape,n", SHAPES)
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9])
def test_mask_is_1xn_with_exact_block_count(shape, n, sparsity):
    rng = np.random.default_rng(sum(shape) + n)
    kernel = rng.normal(size=shape).astype(np.float32)
    mask = blocks.block_mask(kernel, n, sparsity)
    assert mask.shape == kernel.shape and mask.dtype == kernel.dtype
    assert set(np.unique(mask)) <= {0.0, 1.0}

    view = _blocks_view(mask, n)
    block_min = np.nanmin(view, axis=(0, 1, 4))
    block_max = np.nanmax(view, axis=(0, 1, 4))
    np.testing.assert_array_equal(block_min, block_max)  # every block is all kept or all zero

    total = block_min.size
    expected_pruned = min(int(np.floor(sparsity * total + 0.5)), total - 1)
    assert int((block_max == 0).sum()) == expected_pruned

    # The zeroed blocks are the lowest-L1 ones.
    scores = blocks.block_scores(kernel, n)
    assert scores.shape == block_min.shape
    if 0 < expected_pruned < total:
        assert scores[block_max == 0].max() <= scores[block_max == 1].min()


@pytest.mark.parametrize("shape,n", SHAPES)
def test_tensorflow_mask_equals_numpy(shape, n):
    rng = np.random.default_rng(n)
    kernel = rng.normal(size=shape).astype(np.float32)
    for sparsity in (0.0, 0.25, 0.6, 0.95):
        expected = blocks.block_mask(kernel, n, sparsity)
        got = tf.function(lambda k, s: tf_block_mask(k, n, s))(tf.constant(kernel), tf.constant(sparsity))
        np.testing.assert_array_equal(got.numpy(), expected)


def test_ties_are_broken_deterministically_and_zero_blocks_stay_pruned():
    kernel = np.ones((1, 1, 4, 8), np.float32)
    kernel[0, 0, 1, :4] = 0  # one block already zero
    mask = blocks.block_mask(kernel, 4, 0.5)
    assert mask[0, 0, 1, :4].sum() == 0
    np.testing.assert_array_equal(mask, blocks.block_mask(kernel, 4, 0.5))
    assert blocks.kept_blocks(kernel * mask, 4).sum() == 4


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 64])
def test_detect_n_finds_the_pruning_n(n):
    rng = np.random.default_rng(n)
    kernel = rng.normal(size=(3, 3, 32, 64)).astype(np.float32)
    pruned = kernel * blocks.block_mask(kernel, n, 0.5)
    assert blocks.detect_n(pruned) == n
    assert blocks.blocks_explain_zeros(pruned, n)
    assert blocks.detect_n(kernel) is None  # dense: nothing to describe


def _trained_like(n, sparsity, shape=(1, 1, 64, 96), seed=0):
    """A kernel pruned 1xN, then damaged the way training damages one: two dead output channels (all zero,
    one inside a group, one a whole group's first channel) and stray zeros in 1.5% of the kept weights."""
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=shape).astype(np.float32)
    kernel *= blocks.block_mask(kernel, n, sparsity)
    kernel[..., 5] = 0.0
    kernel[..., n * 2] = 0.0
    kept = np.argwhere(kernel != 0)
    stray = kept[rng.choice(len(kept), int(0.015 * len(kept)), replace=False)]
    kernel[tuple(stray.T)] = 0.0
    return kernel


@pytest.mark.parametrize("n", [4, 6, 8, 16])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.75])
def test_detect_n_survives_dead_channels_and_stray_zeros(n, sparsity):
    kernel = _trained_like(n, sparsity)
    assert not blocks.blocks_explain_zeros(kernel, n)  # the strict rule of before gave up here
    assert blocks.detect_n(kernel) == n
    # 3x3: a stray zero is then one tap of a pair, which leaves the pair non-zero.
    assert blocks.detect_n(_trained_like(n, sparsity, shape=(3, 3, 32, 48))) == n


def test_detect_n_does_not_widen_n_at_high_sparsity():
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(1, 1, 256, 64)).astype(np.float32)
    pruned = kernel * blocks.block_mask(kernel, 8, 0.99)
    assert blocks.stray_share(pruned, 8) == (0.0, True)
    assert blocks.stray_share(pruned, 16)[0] > 0.3  # a kept 1x16 block is mostly a kept 1x8 and a zero one
    assert blocks.detect_n(pruned) == 8


def test_detect_n_prefers_the_groups_that_keep_less():
    # cout = 24 at N = 16 (a short last group): L1 scores prune all 8-wide blocks first at 75%, so
    # channels 16..23 are dead and N = 24 (one group) explains the zeros as well as 16, with 1.5x the work.
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(1, 1, 96, 24)).astype(np.float32)
    pruned = kernel * blocks.block_mask(kernel, 16, 0.75)
    assert not pruned[..., 16:].any()
    assert blocks.detect_n(pruned) == 16


def test_detect_n_takes_a_hint_that_explains_the_zeros():
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(1, 1, 32, 64)).astype(np.float32)
    pruned = kernel * blocks.block_mask(kernel, 16, 0.5)
    assert blocks.detect_n(pruned, hint=8) == 8  # every 1x16 zero block is two 1x8 ones
    assert blocks.detect_n(pruned, hint=32) == 16  # 1x32 does not explain the zeros: detected instead
    assert blocks.detect_n(kernel, hint=16) is None  # no zero block at all
    with pytest.raises(ValueError, match="n must be an integer"):
        blocks.detect_n(pruned, hint=65)


def test_unstructured_zeros_are_not_taken_for_1xn():
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(1, 1, 16, 16)).astype(np.float32)
    kernel[0, 0, 3, 5] = 0.0  # a single zero inside a block
    for n in (2, 4, 8, 16):
        assert not blocks.blocks_explain_zeros(kernel, n)
    assert blocks.detect_n(kernel) == 1  # only N=1 explains it, on a 1x1 kernel
    kernel[0, 0, 0, :] = 0.0  # an all-zero input channel is a zero block at every N ...
    kernel.reshape(16, 16)[rng.random((16, 16)) < 0.05] = 0.0
    assert blocks.detect_n(kernel) == 1  # ... but 5% scattered zeros still rule out wider blocks


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "half", None])
def test_bad_sparsity_raises(bad):
    with pytest.raises(ValueError, match="sparsity"):
        blocks.block_mask(np.ones((4, 4), np.float32), 2, bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4", 65, 128])
def test_bad_n_raises(bad):
    with pytest.raises(ValueError, match="n must be an integer"):
        blocks.block_mask(np.ones((4, 4), np.float32), bad, 0.5)


def test_n_limit_is_the_format_limit():
    from onexn_tf.tflite import metadata

    assert blocks.check_n(blocks.MAX_N) == metadata.MAX_N == 64
    with pytest.raises(ValueError, match=r"n for layer 'conv' must be an integer in 1\.\.64 \(64 is the limit"):
        blocks.check_n(65, layer="conv")


def test_keep_maps_in_both_layouts_and_their_csr_index():
    rng = np.random.default_rng(5)
    kernel = rng.normal(size=(3, 3, 8, 20)).astype(np.float32)  # cout % 8 != 0: a short last group
    hwio = kernel * blocks.block_mask(kernel, 8, 0.5)
    ohwi = blocks.hwio_to_ohwi(hwio)
    assert ohwi.shape == (20, 3, 3, 8) and np.array_equal(blocks.ohwi_to_hwio(ohwi), hwio)
    keep = blocks.kept_map(ohwi, 8)
    assert keep.shape == (3, 8) and np.array_equal(keep, blocks.kept_blocks(hwio, 8).T)
    dense_keep = blocks.kept_map(ohwi[:, 1, 1, :], 8)  # a FULLY_CONNECTED (cout, cin) weight
    assert np.array_equal(dense_keep, blocks.kept_blocks(hwio[1, 1], 8).T)
    group_ptr, kept_cin = blocks.csr_index(keep)
    assert group_ptr[0] == 0 and group_ptr[-1] == keep.sum() == kept_cin.size
    for g in range(keep.shape[0]):
        assert list(kept_cin[group_ptr[g]:group_ptr[g + 1]]) == list(np.flatnonzero(keep[g]))
    assert list(blocks.group_widths(20, 8)) == [8, 8, 4] and list(blocks.group_widths(16, 8)) == [8, 8]


def test_bad_kernel_rank_raises():
    with pytest.raises(ValueError, match="kernel"):
        blocks.block_mask(np.ones((2, 3, 4), np.float32), 2, 0.5)


def _quantize_per_channel(hwio):
    """Symmetric per-output-channel int8, as TensorFlow's converter quantizes weights (round half to even)."""
    scale = np.abs(hwio).reshape(-1, hwio.shape[-1]).max(axis=0) / 127.0
    return np.clip(np.rint(hwio / scale), -127, 127).astype(np.int8)


@pytest.mark.parametrize("n,sparsity", [(16, 0.5), (16, 0.75), (8, 0.3), (4, 0.5), (1, 0.5)])
def test_detect_n_on_int8_weights_allows_for_rounding_zeros(n, sparsity):
    rng = np.random.default_rng(n)
    for shape in [(1, 1, 96, 64), (3, 3, 32, 48)]:
        kernel = rng.laplace(size=shape).astype(np.float32)  # peaked at 0, as trained weights are
        quantized = _quantize_per_channel(kernel * blocks.block_mask(kernel, n, sparsity))
        if n > 1:  # (a 1x1 block of N = 1 has no room for a zero inside a kept block)
            zeros_in_kept = int(np.count_nonzero(quantized == 0)) - blocks.zeros_in_zero_blocks(quantized, n)
            assert zeros_in_kept > 0  # rounding made zeros inside kept blocks
        assert blocks.detect_n(quantized, rounding_zeros=blocks.quantized_rounding_zeros(quantized)) == n
        dense = _quantize_per_channel(kernel)
        if shape[:2] == (1, 1):  # rounding zeroes single weights, i.e. (output, input) pairs of a 1x1 kernel:
            assert blocks.detect_n(dense) is not None  # the float rule takes them for blocks ...
        assert blocks.detect_n(dense, rounding_zeros=blocks.quantized_rounding_zeros(dense)) is None  # ... this not


def test_rounding_allowance_and_kept_blocks_of_int8():
    q = np.array([[0, 1, -1, 5], [0, 0, 0, 0], [-128, 0, 0, 0]], np.int8).T  # (cin 4, cout 3)
    assert blocks.quantized_rounding_zeros(q) == 2 + 4
    # -128 has no positive int8 counterpart (np.abs keeps it negative): its block is kept all the same.
    assert blocks.kept_blocks(q, 1).tolist() == [[False, False, True], [True, False, False],
                                                 [True, False, False], [True, False, False]]
    assert blocks.zeros_in_zero_blocks(q, 1) == 8 and blocks.detect_n(q) == 2  # dead channel 1 says nothing
    # With the allowance, N = 2's zero blocks (5 pairs) could all be rounding's; N = 1's 8 pairs cannot.
    assert blocks.detect_n(q, rounding_zeros=blocks.quantized_rounding_zeros(q)) == 1
    assert blocks.detect_n(q, rounding_zeros=8) is None
    assert blocks.kept_blocks(np.array([[np.nan, 0.0]], np.float32), 1).tolist() == [[True, False]]
