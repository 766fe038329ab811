"""Retrieval maths on hand-made similarity matrices, including ties."""

import numpy as np
import pytest

from hse_tf.metrics import (bidirectional_retrieval, chunked_ranks, group_ranks,
                            ranks_from_similarity, recall_metrics)


def test_ranks_diagonal_ground_truth():
    sim = np.array([[0.9, 0.1, 0.3],
                    [0.8, 0.5, 0.2],   # true 0.5 beaten by 0.8 -> rank 2
                    [0.7, 0.6, 0.1]])  # true 0.1 beaten by both -> rank 3
    np.testing.assert_array_equal(ranks_from_similarity(sim), [1, 2, 3])


def test_ties_rank_pessimistically():
    sim = np.array([[0.5, 0.5, 0.5],   # all tied: rank 3, never 1
                    [0.2, 0.9, 0.9]])  # tied with one other: rank 2
    np.testing.assert_array_equal(ranks_from_similarity(sim, [0, 1]), [3, 2])


def test_explicit_ground_truth_and_errors():
    sim = np.array([[0.1, 0.9], [0.3, 0.2]])
    np.testing.assert_array_equal(ranks_from_similarity(sim, [1, 0]), [1, 1])
    with pytest.raises(ValueError, match="range"):
        ranks_from_similarity(sim, [0, 2])
    with pytest.raises(ValueError, match="2-D"):
        ranks_from_similarity(np.zeros(3))


def test_recall_and_median():
    # ranks 1, 2, 3, 60: R@1 = 1/4, R@5 = 3/4, R@50 = 3/4; median (2 + 3) / 2 = 2.5; mean 16.5
    m = recall_metrics([1, 2, 3, 60])
    assert m == {"R@1": 25.0, "R@5": 75.0, "R@50": 75.0, "MR": 2.5, "MnR": 16.5}


def test_chunked_equals_full():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(37, 4)), rng.normal(size=(37, 4))
    np.testing.assert_array_equal(chunked_ranks(q, g, chunk=5), ranks_from_similarity(q @ g.T))


def test_bidirectional_perfect_and_directions():
    video = np.eye(3, dtype=np.float32)
    text = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0, 0.1]], np.float32)
    out = bidirectional_retrieval(video, text)
    # p2v: text2 scores videos [.9, 0, .1] -> true video 2 rank 2; others rank 1
    assert out["p2v"]["R@1"] == pytest.approx(200 / 3)
    # v2p: video0 scores texts [1, 0, .9] -> rank 1; video2 scores [0, 0, .1] -> rank 1
    assert out["v2p"]["R@1"] == 100.0


def test_identical_clips_all_count_as_correct():
    # Gallery: clips 0 and 1 share a segment (group 7), clip 2 is alone (group 9).
    # Query 0 (group 7): scores [0.5, 0.5, 0.4]. Correct: clips 0 and 1, best 0.5; wrong items
    #   scoring >= 0.5: none -> rank 1 (with one true clip and pessimistic ties it would be 2).
    # Query 1 (group 7): scores [0.3, 0.3, 0.3]. Best correct 0.3; clip 2 ties -> rank 2.
    # Query 2 (group 9): scores [0.9, 0.1, 0.6]. Best correct 0.6; clip 0 beats it -> rank 2.
    gallery = np.eye(3)
    queries = np.array([[0.5, 0.5, 0.4], [0.3, 0.3, 0.3], [0.9, 0.1, 0.6]])
    np.testing.assert_array_equal(group_ranks(queries, gallery, [7, 7, 9], [7, 7, 9]), [1, 2, 2])
    # One item per group: the same ranks as the one-true-item rule.
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    np.testing.assert_array_equal(group_ranks(q, g, np.arange(20), np.arange(20), chunk=7),
                                  chunked_ranks(q, g))
    with pytest.raises(ValueError, match="no item"):
        group_ranks(queries, gallery, [7, 7, 8], [7, 7, 9])
