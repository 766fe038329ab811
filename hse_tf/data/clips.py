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


def subsample_indices(start, end, max_frames=MAX_FRAMES):
    """Frame indices of the inclusive range [start, end], uniformly strided to <= max_frames
    (subsample_offsets). Deterministic: the same clip always gives the same frames."""
    n = end - start + 1
    if n <= 0:
        raise ValueError(f"empty frame range [{start}, {end}]")
    j = np.arange(n if max_frames is None else min(n, max_frames), dtype=np.int64)
    if max_frames is None:
        return start + j
    return start + subsample_offsets(j, n, max_frames)


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


def time_to_frames(t0, t1, duration, length):
    """One segment in seconds -> (start, end, problems): the inclusive frame range of
    seconds_to_range, and what was clamped ('reversed', 'out_of_range')."""
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    if length <= 0:
        raise ValueError(f"feature length must be > 0, got {length}")
    problems = []
    if t1 < t0:
        problems.append("reversed")
    if t0 < 0 or t1 > duration or t0 > duration:
        problems.append("out_of_range")
    start, end = seconds_to_range(float(t0), float(t1), float(duration), int(length))
    return int(start), int(end), problems


def frame_span(span, length):
    """One DiDeMo span -> (start, end, problems): the inclusive range of span_to_range, and what
    was fixed ('reversed', 'out_of_range' for the whole-video fallback, 'truncated')."""
    s, e = int(span[0]), int(span[1])
    problems = []
    if e < s:
        problems.append("reversed")
    lo, hi = min(s, e), max(s, e)
    if lo < 0 or lo > length or hi > length:
        problems.append("out_of_range")
    elif hi > length - 1:
        problems.append("truncated")
    start, end = span_to_range(s, e, int(length))
    return int(start), int(end), problems


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
