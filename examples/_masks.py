"""The masks of the accuracy study's baselines, as TensorFlow ops that the pruning wrappers of both Keras
flavours run (compare_patterns.py): whole filters of lowest L1 norm, and single weights of lowest magnitude."""

import tensorflow as tf


def filter_mask(weights, sparsity):
    """Zeros the round(s * cout) output channels (filters) of lowest L1 norm, keeping at least one, so the
    kernel's weight sparsity is s like the other patterns'."""
    sparsity = tf.cast(sparsity, tf.float32)
    cout = int(weights.shape[-1])
    scores = tf.reduce_sum(tf.abs(tf.reshape(weights, [-1, cout])), axis=0)
    pruned = tf.minimum(tf.cast(tf.floor(sparsity * cout + 0.5), tf.int32), cout - 1)
    rank = tf.argsort(tf.argsort(scores, stable=True), stable=True)  # 0 = weakest filter
    keep = rank >= pruned
    return tf.cast(tf.broadcast_to(keep, weights.shape), weights.dtype), scores, keep


def magnitude_mask(weights, sparsity):
    """Unstructured pruning as tfmot's prune_low_magnitude does it: keeps the round((1 - s) * size) weights of
    largest magnitude (at least one; a tie at the threshold keeps every tied weight)."""
    magnitude = tf.abs(tf.convert_to_tensor(weights))
    size = tf.size(magnitude)
    kept = tf.maximum(tf.cast(tf.math.round(tf.cast(size, tf.float32) * (1 - sparsity)), tf.int32), 1)
    threshold = tf.gather(tf.sort(tf.reshape(magnitude, [-1]), direction="DESCENDING"), kept - 1)
    return tf.cast(magnitude >= threshold, magnitude.dtype)
