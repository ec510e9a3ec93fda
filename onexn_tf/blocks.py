"""1xN block geometry, scores and masks.

A Keras Conv2D kernel is HWIO (kh, kw, cin, cout); a Dense kernel (cin, cout) is a 1x1 convolution.
Output channels are split into groups of N: group g holds channels [g*N, min((g+1)*N, cout)); the last
group is shorter when cout % N != 0. A block (c, g) is every weight of group g at input channel c, over
the whole kh x kw window. Blocks are scored by their L1 norm; at sparsity s the
``num_pruned_blocks(B, s)`` lowest-scoring of the layer's B blocks are zeroed (ties: lower flat index
first, so the result is deterministic).

Each function exists twice on purpose: a numpy version for offline tools (report, converter, tests) and
a TensorFlow version that runs inside the pruning wrapper's graph with a sparsity tensor.
"""

import math

import numpy as np
import tensorflow as tf


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return int(n)


def check_sparsity(sparsity):
    """Returns sparsity as a float, or raises ValueError unless 0 <= sparsity < 1."""
    try:
        value = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not 0.0 <= value < 1.0 or math.isnan(value):
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    return value


def num_groups(cout, n):
    """Number of groups of N output channels (the last may be short)."""
    return -(-int(cout) // _check_n(n))


def num_pruned_blocks(total_blocks, sparsity):
    """Blocks zeroed at this sparsity: round-half-up(s * B), keeping at least one block."""
    sparsity = check_sparsity(sparsity)
    return min(int(math.floor(sparsity * total_blocks + 0.5)), max(total_blocks - 1, 0))


def _as_hwio(kernel):
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        return kernel[None, None]
    if kernel.ndim == 4:
        return kernel
    raise ValueError(f"expected a Dense (cin, cout) or Conv2D (kh, kw, cin, cout) kernel, got shape {kernel.shape}")


def _grouped(kernel_hwio, n):
    """(kh, kw, cin, cout) -> (kh, kw, cin, groups, n), zero-padding the short last group."""
    kh, kw, cin, cout = kernel_hwio.shape
    groups = num_groups(cout, n)
    pad = groups * n - cout
    if pad:
        kernel_hwio = np.pad(kernel_hwio, [(0, 0), (0, 0), (0, 0), (0, pad)])
    return kernel_hwio.reshape(kh, kw, cin, groups, n)


def block_scores(kernel, n):
    """L1 norm of every 1xN block: array of shape (cin, groups)."""
    n = _check_n(n)
    return np.abs(_grouped(_as_hwio(kernel), n)).sum(axis=(0, 1, 4))


def block_mask(kernel, n, sparsity):
    """0/1 mask with the kernel's shape and dtype zeroing the lowest-L1 fraction `sparsity` of blocks."""
    n = _check_n(n)
    sparsity = check_sparsity(sparsity)
    kernel = np.asarray(kernel)
    hwio = _as_hwio(kernel)
    scores = block_scores(hwio, n).ravel()
    pruned = num_pruned_blocks(scores.size, sparsity)
    keep = np.ones(scores.size, dtype=bool)
    keep[np.argsort(scores, kind="stable")[:pruned]] = False
    return expand_block_mask(keep.reshape(-1, num_groups(hwio.shape[3], n)), hwio.shape, n).reshape(kernel.shape).astype(kernel.dtype)


def expand_block_mask(keep, kernel_shape_hwio, n):
    """(cin, groups) boolean keep map -> boolean mask of shape HWIO."""
    kh, kw, cin, cout = kernel_shape_hwio
    full = np.broadcast_to(keep[None, None, :, :, None], (kh, kw, cin, keep.shape[1], n))
    return full.reshape(kh, kw, cin, -1)[..., :cout]


def kept_blocks(kernel, n):
    """(cin, groups) boolean map: True where the block has any non-zero weight."""
    return np.abs(_grouped(_as_hwio(kernel), _check_n(n))).max(axis=(0, 1, 4)) > 0


def blocks_explain_zeros(kernel, n):
    """True if every zero weight lies in an all-zero 1xN block (so the zeros are 1xN structured)."""
    grouped = _grouped(_as_hwio(kernel), _check_n(n))
    kh, kw, cin, cout = _as_hwio(kernel).shape
    block_zero = np.abs(grouped).max(axis=(0, 1, 4)) == 0
    zero_weights = int(np.count_nonzero(_as_hwio(kernel) == 0))
    return zero_weights == _zeros_in_blocks(block_zero, kh * kw, cout, n)


def _zeros_in_blocks(block_zero, taps, cout, n):
    """Number of real (unpadded) weights inside the all-zero blocks."""
    widths = np.full(block_zero.shape[1], n)
    widths[-1] = cout - n * (block_zero.shape[1] - 1)
    return int((block_zero * widths[None, :]).sum()) * taps


def tf_block_mask(kernel, n, sparsity):
    """TensorFlow version of ``block_mask`` for graph use; `sparsity` may be a scalar tensor."""
    n = _check_n(n)
    shape = kernel.shape.as_list()
    hwio = tf.reshape(kernel, [1, 1] + shape) if len(shape) == 2 else kernel
    kh, kw, cin, cout = hwio.shape.as_list()
    groups = num_groups(cout, n)
    padded = tf.pad(tf.abs(hwio), [[0, 0], [0, 0], [0, 0], [0, groups * n - cout]])
    scores = tf.reshape(tf.reduce_sum(tf.reshape(padded, [kh, kw, cin, groups, n]), axis=[0, 1, 4]), [-1])
    total = cin * groups
    sparsity = tf.cast(sparsity, tf.float32)
    pruned = tf.minimum(tf.cast(tf.floor(sparsity * total + 0.5), tf.int32), max(total - 1, 0))
    # rank[i] = position of block i in ascending score order; the `pruned` lowest ranks are zeroed.
    rank = tf.argsort(tf.argsort(scores, stable=True), stable=True)
    keep = tf.reshape(rank >= pruned, [cin, groups])
    full = tf.broadcast_to(keep[None, None, :, :, None], [kh, kw, cin, groups, n])
    mask = tf.reshape(full, [kh, kw, cin, groups * n])[..., :cout]
    return tf.cast(tf.reshape(mask, shape), kernel.dtype)


CANDIDATE_N = (64, 32, 16, 8, 4, 2, 1)


def detect_n(kernel, candidates=CANDIDATE_N):
    """The largest N whose all-zero 1xN blocks account for every zero weight, or None if no block is zero.

    A kernel pruned 1x4 at 50% usually has 1x8 blocks that are only partly zero, so the rule finds 4, not 8.
    """
    for n in candidates:
        if n > _as_hwio(kernel).shape[3]:
            continue
        if not kept_blocks(kernel, n).all() and blocks_explain_zeros(kernel, n):
            return n
    return None
