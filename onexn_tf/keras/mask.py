"""``tf_block_mask``: ``onexn_tf.blocks.block_mask`` as TensorFlow ops, for the pruning wrappers of both
Keras flavours. One op for both is what makes tf_keras and Keras 3 choose the same blocks from the same
weights."""

import tensorflow as tf

from onexn_tf import blocks


def tf_block_mask(kernel, n, sparsity):
    """TensorFlow version of ``blocks.block_mask`` for graph use; `sparsity` may be a scalar tensor.

    `kernel` is a tensor or a variable of either flavour (HWIO or (cin, cout))."""
    n = blocks.check_n(n)
    kernel = tf.convert_to_tensor(kernel)
    shape = kernel.shape.as_list()
    hwio = tf.reshape(kernel, [1, 1] + shape) if len(shape) == 2 else kernel
    kh, kw, cin, cout = hwio.shape.as_list()
    groups = blocks.num_groups(cout, n)
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
