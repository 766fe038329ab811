"""Every real annotation file in ../shared/data parses, with the published counts."""

from hse_tf.data import annotations as A
from hse_tf.data.errors import IssueLog
from hse_tf.data.video_dataset import cut_clips
from tests.conftest import shared_path


def _clips_nonempty(anns, issues):
    """Cuts every clip on features of length round(duration * 2); returns the clip count."""
    n = 0
    for ann in anns:
        length = ann.feature_length if ann.unit == "frames" else max(1, round(ann.duration * 2))
        for s, e in cut_clips(ann, length, issues):
            assert 0 <= s <= e < length, (ann.video_id, s, e, length)
            n += 1
    return n


def test_activitynet_train_counts_and_clips():
    issues = IssueLog("error")
    anns = A.read_activitynet_captions(shared_path("activitynet_captions", "train.json"), issues)
    assert len(anns) == 10009
    assert sum(len(a.sentences) for a in anns) == 37421
    assert _clips_nonempty(anns, issues) == 37421
    # Known quirks (data/README.md): 2 reversed segments, 261 ending after the duration.
    assert issues.counts["segment_reversed"] == 2
    assert issues.counts["segment_out_of_range"] >= 261
    assert all(a.segments == sorted(a.segments) for a in anns)  # time-sorted pairs


def test_activitynet_val_counts():
    issues = IssueLog("error")
    val1 = A.read_activitynet_captions(shared_path("activitynet_captions", "val_1.json"), issues)
    assert (len(val1), sum(len(a.sentences) for a in val1)) == (4917, 17505)
    assert _clips_nonempty(val1, issues) == 17505
    val2 = A.read_activitynet_captions(shared_path("activitynet_captions", "val_2.json"), issues)
    assert (len(val2), sum(len(a.sentences) for a in val2)) == (4885, 17031)


def test_sort_keeps_sentence_with_its_segment():
    path = shared_path("activitynet_captions", "train.json")
    raw = A.load_json(path)
    sorted_anns = {a.video_id: a for a in A.read_activitynet_captions(path)}
    for vid, entry in raw.items():
        pairs = dict(zip(entry["sentences"], map(tuple, entry["timestamps"])))
        ann = sorted_anns[vid]
        for seg, sent in zip(ann.segments, ann.sentences):
            assert pairs[sent] == seg


def test_didemo_hse_split_counts():
    issues = IssueLog("error")
    counts = []
    for split in ("train", "val", "test"):
        anns = A.read_didemo(shared_path("didemo", f"{split}_data_bwzhang.json"), issues)
        counts.append(len(anns))
        assert _clips_nonempty(anns, issues) == sum(len(a.sentences) for a in anns)
    assert counts == [8395, 1065, 1004]
    assert issues.counts["segment_reversed"] >= 3  # 3 train videos have inverted spans


def test_didemo_spans_at_the_feature_end_stay_segments():
    # Train split: 1,027 of 33,005 spans end exactly at feature_leng. 7 of them are reversed with
    # a start beyond the features (e.g. [L+k, L]): those 7 fall back to the whole video; the
    # other 1,020 are kept, truncated by one row.
    issues = IssueLog("error")
    anns = A.read_didemo(shared_path("didemo", "train_data_bwzhang.json"), issues)
    _clips_nonempty(anns, issues)
    assert issues.counts["segment_out_of_range"] == 7
    assert issues.counts["segment_truncated"] == 1020


def test_youcook2_parses_both_subsets():
    path = shared_path("youcook2", "yc2_annotations_trainval.json")
    train = A.read_youcook2(path, subset="training")
    val = A.read_youcook2(path, subset="validation")
    assert len(train) > 1000 and len(val) > 400
    issues = IssueLog("error")
    assert _clips_nonempty(train + val, issues) == sum(len(a.sentences) for a in train + val)


def test_tsp_labels_200_classes():
    import json
    labels = A.read_tsp_labels(shared_path("activitynet_v1.3_labels", "tsp",
                                           "activitynet_v1-3_valid_tsp_groundtruth.csv"))
    classes = json.load(open(shared_path("activitynet_v1.3_labels", "activitynet200_classes.json")))
    per_video = A.video_labels(labels)
    assert all(v.startswith("v_") for v in per_video)
    assert set(per_video.values()) <= set(classes) and len(classes) == 200
    assert len(per_video) > 4000
