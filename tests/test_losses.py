"""Each loss term against hand-computed values on tiny inputs."""

import numpy as np
import pytest
import tensorflow as tf

from hse_tf.losses import HSELoss, ranking, reconstruction

# Unit vectors in 2-D so cosines are easy: a = [1,0],[0,1]; b = [1,0],[0.6,0.8]
A2 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
B2 = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
# cos(a_i, b_j): [[1.0, 0.6], [0.0, 0.8]]


def test_match_loss_sum_over_negatives():
    # margin 0.2: rows: [.2 + .6 - 1]+ = 0, [.2 + 0 - .8]+ = 0; cols: [.2 + 0 - 1]+ = 0,
    # [.2 + .6 - .8]+ = 0 -> 0
    assert float(ranking.match_loss(A2, B2, 0.2)) == pytest.approx(0.0, abs=1e-6)
    # margin 0.5: rows (query a_i): i=0: [.5 + .6 - 1]+ = .1 ; i=1: [.5 + 0 - .8]+ = 0
    # cols (query b_j): j=0: [.5 + 0 - 1]+ = 0 ; j=1: [.5 + .6 - .8]+ = .3
    # sum .4, divided by N^2 = 4 -> 0.1
    assert float(ranking.match_loss(A2, B2, 0.5)) == pytest.approx(0.1, abs=1e-6)


def test_match_loss_is_scale_invariant():
    assert float(ranking.match_loss(3 * A2, 0.5 * B2, 0.5)) == pytest.approx(0.1, abs=1e-6)


def test_match_loss_hardest_negative():
    # 3 pairs; sim = [[1, .9, .1], [.2, 1, .3], [.5, .4, 1]] built from a=I and explicit b rows
    sim = tf.constant([[1.0, 0.9, 0.1], [0.2, 1.0, 0.3], [0.5, 0.4, 1.0]])
    # sum mode: rows: [.2+.9-1]+=.1, [.2+.1-1]+=0, [.2+.2-1]+=0, [.2+.3-1]+=0, [.2+.5-1]+=0,
    #   [.2+.4-1]+=0 -> .1 ; cols: col0 (diag 1): [.2+.2-1]=0, [.2+.5-1]=0; col1: [.2+.9-1]=.1,
    #   [.2+.4-1]=0; col2: [.2+.1-1]=0, [.2+.3-1]=0 -> .1 ; total .2 / 9
    assert float(ranking.bidirectional_hinge(sim, 0.2)) == pytest.approx(0.2 / 9, abs=1e-6)
    # hardest: row maxima .1, 0, 0 ; column maxima 0, .1, 0 -> .2 / N = .2 / 3
    assert float(ranking.bidirectional_hinge(sim, 0.2, hardest=True)) == pytest.approx(
        0.2 / 3, abs=1e-6)


def test_cluster_loss():
    # a: cos(a0, a1) = 0 -> [0.2 + 0 - 1]+ = 0.
    # b: cos(b0, b1) = 0.6 -> [0.2 + 0.6 - 1]+ = 0 ; with gamma 0.5: [0.5 + 0.6 - 1]+ = 0.1
    assert float(ranking.cluster_loss(A2, B2, 0.2)) == pytest.approx(0.0, abs=1e-6)
    # b's hinge matrix: 0.1 at (0,1) and (1,0), counted in both directions -> 0.4 / 4 = 0.1;
    # a's: 0; halved sum: 0.5 * (0 + 0.1) = 0.05
    assert float(ranking.cluster_loss(A2, B2, 0.5)) == pytest.approx(0.05, abs=1e-6)


def test_block_mean_similarity_and_weak_loss():
    # video 0 has clips c0=[1,0], c1=[0,1]; video 1 has c2=[1,0].
    # paragraph 0 has s0=[1,0]; paragraph 1 has s1=[0,1], s2=[0,1], s3=[1,0] (counts differ).
    clips = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
    sents = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], np.float32)
    mean = ranking.block_mean_similarity(clips, sents, [2, 1], [1, 3]).numpy()
    # (v0,p0): (1 + 0) / 2 = .5 ; (v0,p1): (0+0+1 + 1+1+0) / 6 = .5 ; (v1,p0): 1 ; (v1,p1): 1/3
    np.testing.assert_allclose(mean, [[0.5, 0.5], [1.0, 1 / 3]], atol=1e-6)
    # hinge margin .2: rows: [.2 + .5 - .5]+ = .2 ; [.2 + 1 - 1/3]+ = .8667
    # cols: col0 (diag .5): [.2 + 1 - .5]+ = .7 ; col1 (diag 1/3): [.2 + .5 - 1/3]+ = .3667
    expected = (0.2 + (1.2 - 1 / 3) + 0.7 + (0.7 - 1 / 3)) / 4
    got = float(ranking.weak_match_loss(clips, sents, [2, 1], [1, 3], 0.2))
    assert got == pytest.approx(expected, abs=1e-5)


def test_vector_reconstruction():
    pred = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    target = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
    # (1 + 4) + (9 + 16) = 30, / B = 2 -> 15
    assert float(reconstruction.vector_reconstruction(pred, target, 2)) == pytest.approx(15.0)


def test_sequence_reconstruction_masks_and_averages_per_row():
    pred = np.zeros((2, 3, 1), np.float32)
    target = np.array([[[1.0], [2.0], [99.0]], [[3.0], [99.0], [99.0]]], np.float32)
    # row 0 (length 2): (1 + 4) / 2 = 2.5 ; row 1 (length 1): 9 / 1 = 9 ; sum 11.5 / B=1
    got = reconstruction.sequence_reconstruction(pred, target, [2, 1], 1)
    assert float(got) == pytest.approx(11.5)


def test_reconstruction_target_has_no_gradient():
    target = tf.Variable([[1.0, 2.0]])
    pred = tf.Variable([[0.0, 0.0]])
    with tf.GradientTape() as tape:
        loss = reconstruction.vector_reconstruction(pred, target, 1)
    g_pred, g_target = tape.gradient(loss, [pred, target])
    np.testing.assert_allclose(g_pred.numpy(), [[-2.0, -4.0]])  # d/dp (p - t)^2 = 2 (p - t)
    assert g_target is None


def test_hse_loss_terms_weights_and_switches():
    v = {"video": A2, "clips": A2, "flat": A2}
    t = {"paragraph": B2, "sentences": B2, "flat": B2}
    m = dict(margin_high=0.5, margin_low=0.5, tau_high=0, tau_low=0)
    terms = HSELoss(**m)(v, t, np.array([1, 1]), np.array([1, 1]))
    assert set(terms) == {"match_high", "cluster_high", "match_low", "cluster_low", "match_flat",
                          "loss"}
    # match terms (high, low, flat) 0.1 each (see above), cluster (gamma .2) 0 -> total 0.3
    assert float(terms["loss"]) == pytest.approx(0.3, abs=1e-6)
    off = HSELoss(w_match_low=0, w_match_flat=0, w_match_high=2.0, **m)(v, t, np.array([1, 1]), np.array([1, 1]))
    assert "match_low" not in off and "match_flat" not in off
    assert float(off["loss"]) == pytest.approx(0.2, abs=1e-6)  # 2 * 0.1


def test_cycle_consistency_hand_computed():
    """COOT's cycle: one video, clips c = [0, 10] and sentences s = [0, 1] (1-d, so the distance
    is the squared difference).
    s0 = 0 -> nearest clip c0 = 0 -> back: softmax(-0, -1) over s = [e/(1+e), 1/(1+e)],
    mu = 1/(1+e) = 0.2689; s1 = 1 -> clip c0 (exp(-81) weight on c1) -> the same mu.
    Sentence cycle: ((0 - 0.2689)^2 + (1 - 0.2689)^2) / 2 = 0.3034.
    c0 = 0 -> soft sentence 0.2689 -> back to c0 (c1 is 94.7 away): mu = 0, error 0;
    c1 = 10 -> sentence s1 = 1 -> back to c0 (1 away, c1 81): mu = 0, error 1. Clip cycle 0.5."""
    import math

    from hse_tf.losses.cycle import cycle_consistency, cycle_error
    c, s, counts = np.array([[0.0], [10.0]]), np.array([[0.0], [1.0]]), np.array([2])
    mu = 1 / (1 + math.e)
    sentence_cycle = (mu ** 2 + (1 - mu) ** 2) / 2
    assert float(cycle_error(s, c, counts, counts)) == pytest.approx(sentence_cycle, abs=1e-5)
    assert float(cycle_error(c, s, counts, counts)) == pytest.approx(0.5, abs=1e-5)
    assert float(cycle_consistency(c, s, counts, counts)) == pytest.approx(
        sentence_cycle + 0.5, abs=1e-5)
    # Two videos: the second (one clip, one sentence) cycles trivially (error 0) and counts in
    # the mean over the batch's real rows; padding rows count nowhere.
    c2, s2 = np.concatenate([c, [[5.0]]]), np.concatenate([s, [[-3.0]]])
    assert float(cycle_error(s2, c2, np.array([2, 1]), np.array([2, 1]))) == pytest.approx(
        2 * sentence_cycle / 3, abs=1e-5)
    # A perfect one-to-one match, in any order, is cycle-consistent.
    perm = np.array([[10.0], [0.0]])
    assert float(cycle_consistency(c, perm, counts, counts)) == pytest.approx(0.0, abs=1e-5)


def test_hse_loss_reports_the_cycle_term_only_when_weighted():
    from hse_tf.losses.cycle import cycle_consistency
    v = {"video": A2, "clips": A2, "flat": A2}
    t = {"paragraph": B2, "sentences": B2, "flat": B2}
    counts = np.array([2])
    off = HSELoss(tau_high=0, tau_low=0)
    assert "cycle" not in off(v, t, counts, counts) and "cycle" not in off.active_terms()
    on = HSELoss(tau_high=0, tau_low=0, w_cycle=0.5)
    terms = on(v, t, counts, counts)
    assert float(terms["cycle"]) == pytest.approx(
        0.5 * float(cycle_consistency(A2, B2, counts, counts)), abs=1e-6)
    assert on.active_terms() == ["match_high", "cluster_high", "match_low", "cluster_low",
                                 "match_flat", "cycle"]
    assert on.active_terms(hierarchical=False) == ["match_high", "cluster_high"]
    assert "match_flat" not in on.active_terms(flat_context=False)
