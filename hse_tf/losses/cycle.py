"""Cross-modal cycle consistency between a video's clips and its paragraph's sentences.

From COOT (Ging et al., "COOT: Cooperative Hierarchical Transformer for Video-Text
Representation Learning", NeurIPS 2020), Section 3, "Cross-Modal Cycle Consistency": take
sentence i of a paragraph, find its soft nearest neighbour among the clips of the same video,
    c~_i = sum_j alpha_j c_j,   alpha = softmax_j(-d(s_i, c_j)),
cycle back to the sentences,
    mu_i = sum_k k beta_k,      beta = softmax_k(-d(c~_i, s_k)),
and penalise (i - mu_i)^2: a sentence is cycle-consistent when its clip's soft nearest
sentence is itself. The loss averages this over the real sentences of the batch, and adds the
same cycle started from the clips. d is the squared distance averaged over dimensions.
"""

import tensorflow as tf

from hse_tf.layers.ragged import pad_rows


def _distances(a, b):
    """Mean squared difference [B, n, m] between rows of a [B, n, H] and b [B, m, H]."""
    dim = tf.cast(tf.shape(a)[-1], a.dtype)
    sq_a = tf.reduce_sum(tf.square(a), -1)[:, :, None]
    sq_b = tf.reduce_sum(tf.square(b), -1)[:, None, :]
    return tf.maximum(sq_a + sq_b - 2.0 * tf.matmul(a, b, transpose_b=True), 0.0) / dim


def _masked_softmax(logits, mask):
    lowest = tf.constant(logits.dtype.min, logits.dtype)
    return tf.nn.softmax(tf.where(mask, logits, lowest), axis=-1)


def cycle_error(a, b, a_counts, b_counts):
    """Mean over the real rows i of a (per video: a_counts, b_counts) of (i - mu_i)^2 for the
    cycle a_i -> soft nearest b -> soft position among the video's a."""
    pa, pb = pad_rows(a, a_counts), pad_rows(b, b_counts)
    a_valid = tf.sequence_mask(a_counts, tf.shape(pa)[1])
    b_valid = tf.sequence_mask(b_counts, tf.shape(pb)[1])
    alpha = _masked_softmax(-_distances(pa, pb), b_valid[:, None, :])
    nearest = tf.matmul(alpha, pb)  # [B, n, H]
    beta = _masked_softmax(-_distances(nearest, pa), a_valid[:, None, :])
    position = tf.cast(tf.range(tf.shape(pa)[1]), a.dtype)
    mu = tf.reduce_sum(beta * position[None, None, :], -1)
    error = tf.square(position[None, :] - mu)
    weight = tf.cast(a_valid, a.dtype)
    return tf.reduce_sum(error * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


def cycle_consistency(clips, sentences, clip_counts, sentence_counts):
    """Sentence -> clip -> sentence plus clip -> sentence -> clip cycle errors."""
    return (cycle_error(sentences, clips, sentence_counts, clip_counts)
            + cycle_error(clips, sentences, clip_counts, sentence_counts))
