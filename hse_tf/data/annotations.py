"""Readers for the released annotation layouts.

Every reader returns a list of `VideoAnnotation`s in file order. Problems are either raised as a
`DataError` naming the file, video and field, or counted and skipped (policy of the `IssueLog`).
"""

import csv
import dataclasses
import json
import os
from typing import List, Optional, Tuple

from hse_tf.data.clips import SORT_BY_TIME
from hse_tf.data.errors import DataError, IssueLog


@dataclasses.dataclass
class VideoAnnotation:
    video_id: str
    duration: float
    # One segment per sentence: seconds for ActivityNet / YouCook2, frame indices for DiDeMo.
    segments: List[Tuple[float, float]]
    sentences: List[str]
    unit: str = "seconds"  # or "frames"
    feature_length: Optional[int] = None  # DiDeMo's feature_leng
    source: str = ""


def load_json(path):
    """json.load with errors that name the file (missing, not UTF-8, not JSON)."""
    if not os.path.exists(path):
        raise DataError("annotation file does not exist", file=path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 text (byte {e.start})", file=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg} at line {e.lineno})", file=path) from None


def _check_pairs(path, vid, segments, sentences, issues, seg_field):
    """Drops (or raises on) empty sentences; checks counts. Returns kept (segments, sentences)."""
    if not isinstance(sentences, list) or not isinstance(segments, list):
        issues.bad("malformed_video", DataError(
            f"'{seg_field}' and 'sentences' must be lists", file=path, video=vid, field=seg_field))
        return None
    if len(segments) != len(sentences):
        issues.bad("count_mismatch", DataError(
            f"{len(segments)} segments but {len(sentences)} sentences", file=path, video=vid,
            field=seg_field))
        return None
    kept_seg, kept_sent = [], []
    for i, (seg, sent) in enumerate(zip(segments, sentences)):
        if not isinstance(sent, str) or not sent.strip():
            issues.bad("empty_sentence", DataError(
                f"sentence {i} is empty or whitespace-only: {sent!r}", file=path, video=vid,
                field=f"sentences[{i}]"))
            continue
        if (not isinstance(seg, (list, tuple)) or len(seg) != 2
                or not all(isinstance(x, (int, float)) for x in seg)):
            issues.bad("malformed_segment", DataError(
                f"segment {i} must be a pair of numbers, got {seg!r}", file=path, video=vid,
                field=f"{seg_field}[{i}]"))
            continue
        kept_seg.append((float(seg[0]), float(seg[1])))
        kept_sent.append(sent)
    if not kept_seg:
        issues.bad("no_sentences", DataError("no usable sentence", file=path, video=vid,
                                             field="sentences"))
        return None
    return kept_seg, kept_sent


def _check_duration(path, vid, duration, issues):
    if not isinstance(duration, (int, float)) or not duration > 0:
        issues.bad("bad_duration", DataError(f"duration must be > 0, got {duration!r}", file=path,
                                             video=vid, field="duration"))
        return False
    return True


def _sort_by_time(segments, sentences):
    order = sorted(range(len(segments)), key=lambda i: (segments[i][0], segments[i][1]))
    return [segments[i] for i in order], [sentences[i] for i in order]


def read_activitynet_captions(path, issues=None, sort_by_time=SORT_BY_TIME):
    """ActivityNet Captions `{vid: {duration, timestamps[[s, e]], sentences[]}}`.

    With `sort_by_time`, each video's (segment, sentence) pairs are put in temporal order, so the
    video and paragraph GRUs see clips and sentences in the same order (the JSON is not sorted for
    245 train videos).
    """
    issues = issues or IssueLog()
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError("expected a JSON object keyed by video id", file=path)
    out = []
    for vid, entry in data.items():
        if not isinstance(entry, dict) or not {"duration", "timestamps", "sentences"} <= set(entry):
            issues.bad("malformed_video", DataError(
                "entry needs 'duration', 'timestamps' and 'sentences'", file=path, video=vid))
            continue
        if not _check_duration(path, vid, entry["duration"], issues):
            continue
        pairs = _check_pairs(path, vid, entry["timestamps"], entry["sentences"], issues,
                             "timestamps")
        if pairs is None:
            continue
        segs, sents = _sort_by_time(*pairs) if sort_by_time else pairs
        out.append(VideoAnnotation(vid, float(entry["duration"]), segs, sents, "seconds",
                                   source=str(path)))
    return out


def read_didemo(path, issues=None, sort_by_time=SORT_BY_TIME):
    """DiDeMo, HSE split: `{video: {duration, feature_leng, times[[f0, f1]], description[]}}`.

    `times` are frame indices into the per-frame features; each description is its own clip.
    Like the other readers, pairs are put in time order (the exported hse_video sorts too).
    """
    issues = issues or IssueLog()
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError("expected a JSON object keyed by video id", file=path)
    out = []
    for vid, entry in data.items():
        if not isinstance(entry, dict) or not {"times", "description"} <= set(entry):
            issues.bad("malformed_video", DataError(
                "entry needs 'times' and 'description'", file=path, video=vid))
            continue
        pairs = _check_pairs(path, vid, entry["times"], entry["description"], issues, "times")
        if pairs is None:
            continue
        segs, sents = _sort_by_time(*pairs) if sort_by_time else pairs
        out.append(VideoAnnotation(vid, float(entry.get("duration", 0.0)), segs, sents,
                                   "frames", feature_length=entry.get("feature_leng"),
                                   source=str(path)))
    return out


def read_youcook2(path, subset=None, issues=None, sort_by_time=SORT_BY_TIME):
    """YouCook2 `{database: {vid: {duration, subset, annotations[{segment, sentence}]}}}`.

    `subset` is 'training', 'validation' or None (all).
    """
    issues = issues or IssueLog()
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise DataError("expected a top-level 'database' object", file=path, field="database")
    out = []
    for vid, entry in data["database"].items():
        if subset is not None and entry.get("subset") != subset:
            continue
        if not _check_duration(path, vid, entry.get("duration"), issues):
            continue
        anns = entry.get("annotations") or []
        pairs = _check_pairs(path, vid, [a.get("segment") for a in anns],
                             [a.get("sentence") for a in anns], issues, "annotations")
        if pairs is None:
            continue
        segs, sents = _sort_by_time(*pairs) if sort_by_time else pairs
        out.append(VideoAnnotation(vid, float(entry["duration"]), segs, sents, "seconds",
                                   source=str(path)))
    return out


def read_tsp_labels(path):
    """ActivityNet v1.3 action segments from a TSP ground-truth CSV.

    Returns {video_id: [(t_start, t_end, label), ...]} with ids as in ActivityNet Captions
    ('v_' + YouTube id). Background rows (no label) are left out.
    """
    if not os.path.exists(path):
        raise DataError("label file does not exist", file=path)
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"video-name", "t-start", "t-end", "action-label"}
        if not need <= set(reader.fieldnames or ()):
            raise DataError(f"CSV header must contain {sorted(need)}", file=path, field="header")
        for row in reader:
            vid = row["video-name"]
            vid = vid if vid.startswith("v_") else "v_" + vid
            if not row["action-label"].strip():
                continue  # background region ('temporal-region-label' = Background): no action
            try:
                seg = (float(row["t-start"]), float(row["t-end"]), row["action-label"])
            except ValueError:
                raise DataError(f"non-numeric time in row {reader.line_num}", file=path, video=vid,
                                field="t-start") from None
            out.setdefault(vid, []).append(seg)
    return out


def video_labels(segments_by_video):
    """One action label per video: the label covering the most time (ties: first seen)."""
    out = {}
    for vid, segs in segments_by_video.items():
        total = {}
        for t0, t1, label in segs:
            total[label] = total.get(label, 0.0) + max(0.0, t1 - t0)
        out[vid] = max(total, key=total.get)
    return out


READERS = {
    "activitynet": read_activitynet_captions,
    "didemo": read_didemo,
    "youcook2": read_youcook2,
}
