"""Values + lengths <-> padded tensors, inside the graph (Keras RNNs reject RaggedTensors)."""

import tensorflow as tf


def pad_rows(values, lengths, starts=None):
    """values [sum(lengths), ...] -> padded [len(lengths), max(lengths), ...] (zeros after).
    With `starts` [N], row i is values[starts[i]:starts[i] + lengths[i]] (rows may overlap)."""
    if starts is None:
        return tf.RaggedTensor.from_row_lengths(values, tf.cast(lengths, tf.int64)).to_tensor()
    lengths, starts = tf.cast(lengths, tf.int32), tf.cast(starts, tf.int32)
    steps = tf.range(tf.reduce_max(tf.concat([lengths, [0]], 0)))
    valid = steps[None, :] < lengths[:, None]
    rows = tf.gather(values, tf.where(valid, starts[:, None] + steps[None, :], 0))
    extra = tf.ones_like(tf.shape(values)[1:])  # broadcast the mask over the value dimensions
    valid = tf.reshape(valid, tf.concat([tf.shape(valid), extra], 0))
    return tf.where(valid, rows, tf.zeros_like(rows))


def segment_ids(lengths):
    """[2, 3] -> [0, 0, 1, 1, 1]: which row each value belongs to."""
    lengths = tf.cast(lengths, tf.int32)
    return tf.repeat(tf.range(tf.shape(lengths)[0]), lengths)
