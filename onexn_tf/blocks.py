"""1xN block geometry: N, groups, scores, masks, keep maps and their index (numpy only).

A Keras Conv2D kernel is HWIO (kh, kw, cin, cout); a Dense kernel (cin, cout) is a 1x1 convolution. A
TFLite CONV_2D filter is OHWI (cout, kh, kw, cin); a FULLY_CONNECTED weight is (cout, cin).
Output channels are split into groups of N: group g holds channels [g*N, min((g+1)*N, cout)); the last
group is shorter when cout % N != 0. A block (c, g) is every weight of group g at input channel c, over
the whole kh x kw window. Blocks are scored by their L1 norm; at sparsity s the
``num_pruned_blocks(B, s)`` lowest-scoring of the layer's B blocks are zeroed (ties: lower flat index
first, so the result is deterministic).

This module is the one owner of N and of the block layout, for the Keras side, the .tflite format and
the runtime alike. The TensorFlow version of ``block_mask``, which runs inside the pruning wrapper's
graph, is ``onexn_tf.keras.mask.tf_block_mask``, shared by the wrappers of both Keras flavours.
"""

import math

import numpy as np

# The largest N: the metadata format (docs/FORMAT.md) and the delegate's kernels take N <= 64.
MAX_N = 64
# Share of the weights in kept 1xN blocks that ``detect_n`` lets be zero: trained weights pick up exact zeros
# inside kept blocks (a block pruned for a while and kept again holds the zeros it had).
STRAY_ZEROS = 0.02


def check_n(n, layer=None):
    """Returns n as an int, or raises ValueError unless it is an integer in 1..MAX_N.

    `layer` names the layer the N is for, in the message.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_N:
        where = f" for layer {layer!r}" if layer is not None else ""
        raise ValueError(f"n{where} must be an integer in 1..{MAX_N} ({MAX_N} is the limit of the onexn "
                         f"format and kernels), got {n!r}")
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
    return -(-int(cout) // check_n(n))


def group_widths(cout, n):
    """Output channels in each group: N, except a shorter last group when cout % N != 0."""
    return np.minimum(n, int(cout) - n * np.arange(num_groups(cout, n)))


def num_pruned_blocks(total_blocks, sparsity):
    """Blocks zeroed at this sparsity: round-half-up(s * B), keeping at least one block."""
    sparsity = check_sparsity(sparsity)
    return min(int(math.floor(sparsity * total_blocks + 0.5)), max(total_blocks - 1, 0))


def as_hwio(kernel):
    """A Keras kernel, Dense (cin, cout) or Conv2D (kh, kw, cin, cout), as a 4-D HWIO array."""
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        return kernel[None, None]
    if kernel.ndim == 4:
        return kernel
    raise ValueError(f"expected a Dense (cin, cout) or Conv2D (kh, kw, cin, cout) kernel, got shape {kernel.shape}")


def to_ohwi(weight):
    """A TFLite weight, CONV_2D filter (OHWI) or FULLY_CONNECTED (cout, cin), as a 4-D OHWI array."""
    weight = np.asarray(weight)
    return weight[:, None, None, :] if weight.ndim == 2 else weight


def ohwi_to_hwio(ohwi):
    """OHWI (TFLite) -> HWIO (Keras)."""
    return np.transpose(ohwi, (1, 2, 3, 0))


def hwio_to_ohwi(hwio):
    """HWIO (Keras) -> OHWI (TFLite)."""
    return np.transpose(hwio, (3, 0, 1, 2))


def _grouped(kernel_hwio, n):
    """(kh, kw, cin, cout) -> (kh, kw, cin, groups, n), zero-padding the short last group."""
    kh, kw, cin, cout = kernel_hwio.shape
    groups = num_groups(cout, n)
    pad = groups * n - cout
    if pad:
        kernel_hwio = np.pad(kernel_hwio, [(0, 0), (0, 0), (0, 0), (0, pad)])
    return kernel_hwio.reshape(kh, kw, cin, groups, n)


def block_scores(kernel, n):
    """L1 norm of every 1xN block of a Keras kernel: array of shape (cin, groups)."""
    n = check_n(n)
    return np.abs(_grouped(as_hwio(kernel), n)).sum(axis=(0, 1, 4))


def block_mask(kernel, n, sparsity):
    """0/1 mask with the kernel's shape and dtype zeroing the lowest-L1 fraction `sparsity` of blocks."""
    n = check_n(n)
    sparsity = check_sparsity(sparsity)
    kernel = np.asarray(kernel)
    hwio = as_hwio(kernel)
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
    """Keep map of a Keras kernel (HWIO or (cin, cout)), float or int8: (cin, groups) boolean, True where
    the block has a non-zero weight (a NaN counts as non-zero; -0.0 does not)."""
    return (_grouped(as_hwio(kernel), check_n(n)) != 0).any(axis=(0, 1, 4))


def kept_map(weight, n):
    """Keep map of a TFLite weight (OHWI or (cout, cin)): (groups, cin) boolean, the layout of the
    metadata's CSR index and of TFLite's block-sparse encoding."""
    return kept_blocks(ohwi_to_hwio(to_ohwi(weight)), n).T


def csr_index(keep):
    """(groups, cin) keep map -> (group_ptr, kept_cin) as int64 arrays: group g keeps the input channels
    kept_cin[group_ptr[g]:group_ptr[g + 1]]."""
    group_ptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    return group_ptr, np.nonzero(keep)[1].astype(np.int64)


def zeros_in_zero_blocks(kernel, n):
    """How many weights of a Keras kernel (HWIO or (cin, cout)) lie in all-zero 1xN blocks."""
    hwio = as_hwio(kernel)
    kh, kw, _, cout = hwio.shape
    return int((~kept_blocks(hwio, n) * group_widths(cout, n)[None, :]).sum()) * kh * kw


def blocks_explain_zeros(kernel, n):
    """True if every zero weight of a Keras kernel lies in an all-zero 1xN block (the zeros are 1xN
    structured)."""
    return int(np.count_nonzero(as_hwio(kernel) == 0)) == zeros_in_zero_blocks(kernel, n)


def quantized_rounding_zeros(quantized):
    """How many zero (output, input) weight pairs of a symmetric int8 Keras kernel (HWIO or (cin, cout))
    rounding alone may have made, for ``detect_n``.

    A weight rounds to 0 when it is within half a quantization step of zero, a bucket half as wide as the
    buckets of -1 and +1 together. Near zero a weight distribution is flat at that scale (a step is about
    1/127 of the channel's largest weight), so rounding zeroes about half as many pairs as there are pairs
    whose largest weight is +-1; twice that, plus 4 for small layers, is the allowance. (Without it, the
    zeros rounding leaves inside kept blocks made ``detect_n`` find N = 1 or nothing on int8 weights pruned
    1x16, and give unpruned layers N = 1.)
    """
    largest = np.abs(as_hwio(np.asarray(quantized, dtype=np.int64))).max(axis=(0, 1))
    return int(np.count_nonzero(largest == 1)) + 4


def zero_pairs(kernel):
    """(cout, cin) boolean of a Keras kernel: True where output channel o reads input channel c only through
    zero weights (over the whole kh x kw window). 1xN pruning zeroes such pairs N output channels at a time."""
    return ~np.any(as_hwio(kernel) != 0, axis=(0, 1)).T


def _zero_block_pairs(zero, n):
    """(cout, cin) boolean: True where the pair lies in an all-zero 1xN block."""
    cout, cin = zero.shape
    groups = -(-cout // n)
    padded = np.ones((groups * n, cin), dtype=bool)
    padded[:cout] = zero
    block_zero = padded.reshape(groups, n, cin).all(axis=1)
    return np.repeat(block_zero, n, axis=0)[:cout]


def _structure(zero, n, rounding_zeros=0):
    """(share of the (output, input) pairs in kept 1xN blocks that are zero, counting live output channels
    only and less the ``rounding_zeros`` pairs rounding may have zeroed; whether the all-zero blocks hold
    more than ``rounding_zeros`` pairs; pairs in kept blocks, i.e. the work a kernel does at this N)."""
    in_blocks = _zero_block_pairs(zero, n)
    live = ~zero.all(axis=1)  # dead output channels (all zero: a ReLU that never fires) say nothing about N
    kept = ~in_blocks[live]
    stray = max(int(np.count_nonzero(zero[live] & kept)) - rounding_zeros, 0)
    share = stray / max(int(np.count_nonzero(kept)), 1)
    return share, int(np.count_nonzero(in_blocks)) > rounding_zeros, int(np.count_nonzero(~in_blocks))


def stray_share(kernel, n):
    """Share of the weight pairs in kept 1xN blocks of a Keras kernel that are zero (0 for a kernel pruned
    1xN with nothing else zero), not counting dead output channels; and whether any block is zero."""
    share, any_zero_block, _ = _structure(zero_pairs(kernel), check_n(n))
    return share, any_zero_block


def detect_n(kernel, hint=None, rounding_zeros=0):
    """N of a Keras kernel (HWIO or (cin, cout)), or None if no 1xN block is zero (nothing to describe).

    N must explain the zeros: at most STRAY_ZEROS of the (output, input) weight pairs in its kept blocks are
    zero (trained weights hold such stray zeros), not counting dead output channels (all zero: a ReLU that
    never fires). A kernel pruned 1x16 has 1x32 blocks of which many are half zero, so 32 does not explain its
    zeros. Of the N that explain the zeros, the largest whose kept blocks hold no more weights than those of
    every smaller N > 1 that explains them too: with dead channels a wider N can explain the zeros as well,
    only with more work. Any N <= min(cout, MAX_N) is found, not only
    powers of two. `hint`, the N the layer was pruned with (``strip_1xn`` and ``apply_1xn`` record it on
    the layer), is taken whenever it explains the zeros.

    Quantized weights: ``rounding_zeros`` = ``quantized_rounding_zeros(weight)`` zero pairs may come from
    rounding, not from pruning; they are not stray, and the all-zero blocks must hold more than that many.
    """
    zero = zero_pairs(kernel)
    cout = zero.shape[0]
    found = {}
    for n in range(1, min(cout, MAX_N) + 1):
        share, any_zero_block, work = _structure(zero, n, rounding_zeros)
        if any_zero_block and share <= STRAY_ZEROS:
            found[n] = work
    if hint is not None and check_n(hint) in found:
        return int(hint)
    for n in sorted(found, reverse=True):
        # Not against N=1: a dead output channel or a stray zero pair is a zero 1x1 block on its own.
        if all(found[n] <= (1.0 + STRAY_ZEROS) * found[m] for m in found if 2 <= m < n):
            return n
    return None
