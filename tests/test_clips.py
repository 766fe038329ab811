import numpy as np
import pytest

from hse_tf.data import clips


def test_time_to_frames_proportional():
    # duration 10 s, 20 frames: start = floor(2.0/10*20) = 4, end = ceil(5.1/10*20) = ceil(10.2) = 11
    assert clips.time_to_frames(2.0, 5.1, 10.0, 20) == (4, 11, [])


def test_time_to_frames_clamps_past_duration():
    # end = ceil(12/10*20) = 24 -> clamped to L-1 = 19
    s, e, problems = clips.time_to_frames(8.0, 12.0, 10.0, 20)
    assert (s, e) == (16, 19) and problems == ["out_of_range"]


def test_time_to_frames_reversed_gives_one_frame():
    # start = floor(6/10*20) = 12, end = ceil(3/10*20) = 6 -> max(end, start) = 12
    s, e, problems = clips.time_to_frames(6.0, 3.0, 10.0, 20)
    assert (s, e) == (12, 12) and "reversed" in problems


def test_time_to_frames_start_past_end_of_features():
    # start = floor(11/10*20) = 22 -> clamped to 19; never an empty clip
    s, e, _ = clips.time_to_frames(11.0, 12.0, 10.0, 20)
    assert s == e == 19


def test_time_to_frames_rejects_zero_duration():
    with pytest.raises(ValueError, match="duration"):
        clips.time_to_frames(0.0, 1.0, 0.0, 20)


def test_subsample_short_range_is_untouched():
    np.testing.assert_array_equal(clips.subsample_indices(3, 7), [3, 4, 5, 6, 7])


def test_subsample_long_range_uniform_and_deterministic():
    idx = clips.subsample_indices(0, 199, 80)
    assert len(idx) == 80 and idx[0] == 0 and idx[-1] == 199
    assert np.all(np.diff(idx) >= 2) and np.all(np.diff(idx) <= 3)  # stride 199/79 ~ 2.52
    np.testing.assert_array_equal(idx, clips.subsample_indices(0, 199, 80))


def test_subsample_exactly_80_keeps_all():
    assert len(clips.subsample_indices(10, 89, 80)) == 80


def test_frame_span_inside_and_outside():
    assert clips.frame_span([0, 149], 832) == (0, 149, [])
    assert clips.frame_span([449, 900], 832) == (0, 831, ["out_of_range"])  # whole video
    assert clips.frame_span([10, 5], 832) == (5, 10, ["reversed"])
    # A span ending at the feature length (one past the last row) is kept, truncated: not the
    # whole video (the authors' loader falls back only when start or end > length).
    assert clips.frame_span([749, 832], 832) == (749, 831, ["truncated"])
    assert clips.frame_span([832, 832], 832) == (831, 831, ["truncated"])
    assert clips.frame_span([800, 833], 832) == (0, 831, ["out_of_range"])
    assert clips.frame_span([-1, 10], 832) == (0, 831, ["out_of_range"])


def test_uniform_segments_cover_everything():
    segs = clips.uniform_segments(10, 3)
    # starts floor(0), floor(3.33) = 3, floor(6.67) = 6; each ends where the next starts:
    # [0,2], [3,5], [6,9] (no frame in two segments)
    assert segs == [(0, 2), (3, 5), (6, 9)]
    assert clips.uniform_segments(5, 1) == [(0, 4)]
    assert clips.uniform_segments(8, 4) == [(0, 1), (2, 3), (4, 5), (6, 7)]
    # 2 frames, 3 segments: starts 0, floor(0.67) = 0, floor(1.33) = 1 -> one frame is shared
    assert clips.uniform_segments(2, 3) == [(0, 0), (0, 0), (1, 1)]
    for length in range(4, 60):
        for k in range(1, 5):
            segs = clips.uniform_segments(length, k)
            covered = [f for s, e in segs for f in range(s, e + 1)]
            assert covered == list(range(length)), (length, k)  # a partition, in order


def test_proposal_precision_recall():
    # proposals [0,5],[5,10]; ground truth [0,4] (IoU with [0,5] = 4/5 = 0.8) and [6,7] (IoU with
    # [5,10] = 1/5 = 0.2): precision = 1/2, recall = 1/2
    p, r = clips.proposal_precision_recall([(0, 5), (5, 10)], [(0, 4), (6, 7)])
    assert p == pytest.approx(0.5) and r == pytest.approx(0.5)
    assert clips.temporal_iou((0, 5), (0, 4)) == pytest.approx(0.8)
