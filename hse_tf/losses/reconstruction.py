"""Layer-wise reconstruction losses (Eq. 10), normalised by the batch size (videos)."""

import tensorflow as tf


def vector_reconstruction(pred, target, batch_size):
    """sum_i ||pred_i - target_i||^2 / B; the target is a stop-gradient copy."""
    diff = pred - tf.stop_gradient(target)
    return tf.reduce_sum(tf.square(diff)) / tf.cast(batch_size, pred.dtype)


def sequence_reconstruction(pred, target, lengths, batch_size):
    """sum_i (1/n_i) sum_{j<n_i} ||pred_ij - target_ij||^2 / B over padded [N, T, D] tensors."""
    steps = tf.shape(pred)[1]
    target = tf.stop_gradient(target[:, :steps])
    mask = tf.sequence_mask(lengths, steps, dtype=pred.dtype)
    per_step = tf.reduce_sum(tf.square(pred - target), axis=-1) * mask
    per_row = tf.reduce_sum(per_step, axis=1) / tf.cast(lengths, pred.dtype)
    return tf.reduce_sum(per_row) / tf.cast(batch_size, pred.dtype)
