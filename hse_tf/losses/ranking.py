"""Margin ranking losses of HSE (Eqs. 4-7, 13-14), on similarity matrices.

Conventions (docs/design.md, "Losses"): cosine similarity; the hinge is
[margin + negative - positive]_+ in both directions; summed over all negatives and divided by
N^2 (N = number of pairs), or, with `hardest=True`, only the hardest negative per query,
divided by N (one term per query and direction).
"""

import tensorflow as tf

from hse_tf.losses.loss_config import DEFAULTS


def l2_normalize(x):
    return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


def cosine_matrix(a, b):
    """[N, D] x [K, D] -> [N, K] cosine similarities."""
    return tf.matmul(l2_normalize(a), l2_normalize(b), transpose_b=True)


def bidirectional_hinge(sim, margin, hardest=False):
    """sim [N, N] with the positives on the diagonal.

    cost_row[i, j] = [margin + sim[i, j] - sim[i, i]]_+  (query i of the row modality)
    cost_col[i, j] = [margin + sim[i, j] - sim[j, j]]_+  (query j of the column modality)
    """
    n = tf.shape(sim)[0]
    diag = tf.linalg.diag_part(sim)
    off = 1.0 - tf.eye(n, dtype=sim.dtype)
    cost_row = tf.nn.relu(margin + sim - diag[:, None]) * off
    cost_col = tf.nn.relu(margin + sim - diag[None, :]) * off
    nf = tf.cast(n, sim.dtype)
    if hardest:
        return (tf.reduce_sum(tf.reduce_max(cost_row, axis=1))
                + tf.reduce_sum(tf.reduce_max(cost_col, axis=0))) / nf
    return (tf.reduce_sum(cost_row) + tf.reduce_sum(cost_col)) / (nf * nf)


def match_loss(a, b, margin=DEFAULTS.margin_high, hardest=False):
    """Cross-modal match loss between paired rows of a and b (Eq. 4 / Eq. 5)."""
    return bidirectional_hinge(cosine_matrix(a, b), margin, hardest)


def cluster_loss(a, b, gamma=DEFAULTS.gamma, hardest=False):
    """Within-modality loss (Eqs. 6-7): penalises distinct items with cosine above 1 - gamma.

    The same hinge on the self-similarity matrices (positives = self-match = 1), the two
    modalities' losses halved and summed.
    """
    return 0.5 * (bidirectional_hinge(cosine_matrix(a, a), gamma, hardest)
                  + bidirectional_hinge(cosine_matrix(b, b), gamma, hardest))


def block_mean_similarity(clips, sentences, clip_counts, sentence_counts):
    """[B, B]: mean cosine over the clip x sentence block of each (video, paragraph) pair (Eq. 13).

    Clip and sentence counts of a pair may differ.
    """
    sim = cosine_matrix(clips, sentences)  # [M, S]
    b = tf.shape(clip_counts)[0]

    def averaging(counts):
        seg = tf.repeat(tf.range(b), counts)
        onehot = tf.one_hot(seg, b, dtype=sim.dtype, axis=0)  # [B, total]
        return onehot / tf.cast(counts, sim.dtype)[:, None]

    return averaging(clip_counts) @ sim @ tf.transpose(averaging(sentence_counts))


def weak_match_loss(clips, sentences, clip_counts, sentence_counts, margin=DEFAULTS.margin_low,
                    hardest=False):
    """Low-level match under weak correspondence (Eq. 14)."""
    return bidirectional_hinge(
        block_mean_similarity(clips, sentences, clip_counts, sentence_counts), margin, hardest)
