"""Clip cutting, frame subsampling and proposals (the rules of docs/design.md, "Data")."""

import math

import numpy as np

MAX_FRAMES = 80  # clips and whole videos longer than this are subsampled to it
SORT_BY_TIME = True  # a video's (segment, sentence) pairs in time order


def subsample_indices(start, end, max_frames=MAX_FRAMES):
    """Frame indices of the inclusive range [start, end], uniformly strided to <= max_frames.

    Deterministic: a range longer than max_frames keeps `max_frames` evenly spaced frames
    (first and last included), so the same clip always gives the same frames.
    """
    n = end - start + 1
    if n <= 0:
        raise ValueError(f"empty frame range [{start}, {end}]")
    if max_frames is None or n <= max_frames:
        return np.arange(start, end + 1, dtype=np.int64)
    return start + np.floor(np.arange(max_frames) * (n - 1) / (max_frames - 1) + 0.5).astype(np.int64)


def time_to_frames(t0, t1, duration, length):
    """ActivityNet rule: seconds -> inclusive frame range, proportional to the feature length.

    Returns (start, end, problems), where problems lists what was clamped ('reversed',
    'out_of_range'); the range itself always holds at least one frame.
    """
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    if length <= 0:
        raise ValueError(f"feature length must be > 0, got {length}")
    problems = []
    if t1 < t0:
        problems.append("reversed")
    if t0 < 0 or t1 > duration or t0 > duration:
        problems.append("out_of_range")
    start = math.floor(t0 / duration * length)
    end = math.ceil(t1 / duration * length)
    end = max(end, start)
    start = min(max(start, 0), length - 1)
    end = min(max(end, 0), length - 1)
    end = max(end, start)
    return start, end, problems


def frame_span(span, length):
    """DiDeMo rule: `times` are frame indices into the `length` feature rows.

    As the authors' loader: a span lying beyond the features (start > length or end > length, or
    a negative index) falls back to the whole video; any other span is kept, truncated to the
    video (a span ending at `length`, one past the last row, ends at the last row).
    Returns (start, end, problems) with an inclusive range of at least one frame; problems lists
    what was fixed ('reversed', 'out_of_range' for the whole-video fallback, 'truncated').
    """
    s, e = int(span[0]), int(span[1])
    problems = []
    if e < s:
        problems.append("reversed")
        s, e = e, s
    if s < 0 or s > length or e > length:
        problems.append("out_of_range")
        return 0, length - 1, problems
    if e > length - 1:
        problems.append("truncated")
    return min(s, length - 1), min(e, length - 1), problems


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
