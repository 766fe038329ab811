"""Values + lengths <-> padded tensors, inside the graph (Keras RNNs reject RaggedTensors)."""

import tensorflow as tf


def pad_rows(values, lengths, starts=None):
    """values [sum(lengths), ...] -> padded [len(lengths), max(lengths), ...] (zeros after).
    With `starts` [N], row i is values[starts[i]:starts[i] + lengths[i]] (rows may overlap)."""
    lengths = tf.cast(lengths, tf.int32)
    if starts is not None:  # copy the rows back to back first
        shift = tf.cast(starts, tf.int32) - tf.cumsum(lengths, exclusive=True)
        values = tf.gather(values, tf.repeat(shift, lengths) + tf.range(tf.reduce_sum(lengths)))
    return tf.RaggedTensor.from_row_lengths(values, tf.cast(lengths, tf.int64)).to_tensor()


def segment_ids(lengths):
    """[2, 3] -> [0, 0, 1, 1, 1]: which row each value belongs to."""
    lengths = tf.cast(lengths, tf.int32)
    return tf.repeat(tf.range(tf.shape(lengths)[0]), lengths)
