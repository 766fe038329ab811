"""Clip cutting, frame subsampling and proposals (the rules of docs/design.md, "Data").

Each rule is written once, elementwise over arrays, and runs on numpy (training, evaluation,
index building) or on tf.experimental.numpy (the exported signatures, hse_tf.export.preprocess):
seconds_to_range, span_to_range, subsample_offsets. The scalar helpers below them add what the
readers report (which segments were clamped) and call the same rules.
"""

import math

import numpy as np

MAX_FRAMES = 80  # clips and whole videos longer than this are subsampled to it
SORT_BY_TIME = True  # a video's (segment, sentence) pairs in time order


def subsample_offsets(j, n, max_frames=MAX_FRAMES, xp=np):
    """THE frame-subsampling rule, elementwise: the offset of kept frame j (0 <= j <
    min(n, max_frames)) within a range of n frames. All frames when n <= max_frames, else
    `max_frames` evenly spaced ones, first and last included: floor(j (n-1) / (max_frames-1) + .5).

    `xp` is numpy (training, indexing) or tf.experimental.numpy (the exported signatures), so
    both paths run this one function.
    """
    strided = xp.floor(xp.asarray(j, dtype=xp.float64) * xp.asarray(n - 1, dtype=xp.float64)
                       / float(max(max_frames - 1, 1)) + 0.5)
    return xp.where(n <= max_frames, j, xp.asarray(strided, dtype=xp.int64))


def subsample_ranges(starts, ends, max_frames=MAX_FRAMES):
    """Inclusive frame ranges [M] -> (the frame indices of every range, concatenated; how many
    per range), each range uniformly strided to <= max_frames (subsample_offsets; None: all
    frames). Deterministic: the same clip always gives the same frames."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    n = ends - starts + 1
    if (n <= 0).any():
        i = int(np.argmax(n <= 0))
        raise ValueError(f"empty frame range [{starts[i]}, {ends[i]}]")
    k = n if max_frames is None else np.minimum(n, max_frames)
    row = np.repeat(np.arange(len(k)), k)
    j = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
    offsets = j if max_frames is None else subsample_offsets(j, n[row], max_frames)
    return starts[row] + offsets, k


def subsample_indices(start, end, max_frames=MAX_FRAMES):
    """Frame indices of one inclusive range [start, end] (subsample_ranges)."""
    return subsample_ranges([start], [end], max_frames)[0]


def seconds_to_range(t0, t1, duration, length, xp=np):
    """THE ActivityNet / YouCook2 rule, elementwise: seconds [t0, t1] of a video of `duration`
    seconds and `length` feature rows -> an inclusive frame range (start, end) of >= 1 frame,
    proportional to the feature length and clamped to the video. `xp`: as subsample_offsets."""
    n = xp.asarray(length, dtype=xp.float64)
    start = xp.asarray(xp.floor(t0 / duration * n), dtype=xp.int64)
    end = xp.asarray(xp.ceil(t1 / duration * n), dtype=xp.int64)
    end = xp.maximum(end, start)
    last = xp.asarray(length, dtype=xp.int64) - 1
    start = xp.minimum(xp.maximum(start, 0), last)
    end = xp.maximum(xp.minimum(xp.maximum(end, 0), last), start)
    return start, end


def span_to_range(s, e, length, xp=np):
    """THE DiDeMo rule, elementwise: frame-index spans [s, e] into `length` feature rows -> an
    inclusive range. As the authors' loader: reversed spans are swapped; a span lying beyond
    the features (start or end > length, or a negative index) means the whole video; any other
    span is truncated to the last row. `xp`: as subsample_offsets."""
    s, e = xp.minimum(s, e), xp.maximum(s, e)
    last = length - 1
    outside = (s < 0) | (s > length) | (e > length)
    return xp.where(outside, 0, xp.minimum(s, last)), xp.where(outside, last, xp.minimum(e, last))


def segment_ranges(segments, length, duration=None):
    """All segments [M, 2] of one video on `length` feature rows -> (starts, ends, problems):
    inclusive frame ranges by seconds_to_range (seconds, when `duration` is given) or
    span_to_range (DiDeMo frame spans), and per segment what was fixed: 'reversed',
    'out_of_range' (seconds: clamped; spans: the whole-video fallback), 'truncated' (spans)."""
    if length <= 0:
        raise ValueError(f"feature length must be > 0, got {length}")
    seg = np.asarray(segments, np.float64 if duration is not None else np.int64).reshape(-1, 2)
    a, b = seg[:, 0], seg[:, 1]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    if duration is not None:
        if not duration > 0:
            raise ValueError(f"duration must be > 0, got {duration}")
        starts, ends = seconds_to_range(a, b, float(duration), int(length))
        flags = {"reversed": b < a, "out_of_range": (a < 0) | (b > duration) | (a > duration)}
    else:
        starts, ends = span_to_range(a, b, int(length))
        outside = (lo < 0) | (lo > length) | (hi > length)
        flags = {"reversed": b < a, "out_of_range": outside,
                 "truncated": ~outside & (hi > length - 1)}
    problems = [[p for p, hit in flags.items() if hit[i]] for i in range(len(seg))]
    return starts, ends, problems


def time_to_frames(t0, t1, duration, length):
    """One segment in seconds -> (start, end, problems) (segment_ranges)."""
    starts, ends, problems = segment_ranges([[t0, t1]], length, duration)
    return int(starts[0]), int(ends[0]), problems[0]


def frame_span(span, length):
    """One DiDeMo span -> (start, end, problems) (segment_ranges)."""
    starts, ends, problems = segment_ranges([[int(span[0]), int(span[1])]], length)
    return int(starts[0]), int(ends[0]), problems[0]


def uniform_segments(length, k):
    """K consecutive, non-overlapping inclusive frame ranges of (nearly) equal length that cover
    [0, length-1]: segment i starts at floor(i * length / k) and ends where the next starts.
    With fewer frames than segments (length < k) some segments must share a frame."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    starts = [min(int(math.floor(i * length / k)), length - 1) for i in range(k)] + [length]
    return [(starts[i], max(starts[i + 1] - 1, starts[i])) for i in range(k)]


def uniform_time_segments(duration, k):
    """K equal-length segments in seconds: the 'uniform proposal' of Table 4."""
    edges = np.linspace(0.0, duration, k + 1)
    return [(float(edges[i]), float(edges[i + 1])) for i in range(k)]


def temporal_iou(a, b):
    """IoU of two [start, end] intervals (seconds)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def proposal_precision_recall(proposals, ground_truth, threshold=0.5):
    """Precision and recall of proposals against ground-truth segments at tIoU >= threshold.

    precision = share of proposals matching some ground-truth segment,
    recall = share of ground-truth segments matched by some proposal.
    """
    if not proposals or not ground_truth:
        return 0.0, 0.0
    iou = np.array([[temporal_iou(p, g) for g in ground_truth] for p in proposals])
    hit = iou >= threshold
    return float(hit.any(axis=1).mean()), float(hit.any(axis=0).mean())
