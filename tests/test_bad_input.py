"""Bad annotations: a clear error naming file, video and field, or a counted skip."""

import json

import numpy as np
import pytest

from hse_tf.data import annotations as A
from hse_tf.data.errors import DataError, IssueLog
from hse_tf.data.features import open_features, write_features
from hse_tf.data.video_dataset import VideoDataset
from hse_tf.data.vocabulary import Vocabulary

GOOD = {"duration": 10.0, "timestamps": [[0, 5], [5, 10]], "sentences": ["a man runs", "he stops"]}


def _write(tmp_path, data):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("entry, kind, field", [
    ({**GOOD, "sentences": ["a man runs", "   "]}, "empty_sentence", "sentences[1]"),
    ({**GOOD, "sentences": ["only one"]}, "count_mismatch", "timestamps"),
    ({**GOOD, "duration": 0}, "bad_duration", "duration"),
    ({**GOOD, "timestamps": [[0, 5], ["x", 2]]}, "malformed_segment", "timestamps[1]"),
])
def test_error_or_counted_skip(tmp_path, entry, kind, field):
    path = _write(tmp_path, {"v_ok": GOOD, "v_bad": entry})
    with pytest.raises(DataError) as e:
        A.read_activitynet_captions(path, IssueLog("error"))
    assert e.value.video == "v_bad" and e.value.field == field and "ann.json" in str(e.value)
    issues = IssueLog("skip")
    anns = A.read_activitynet_captions(path, issues)
    kept = {a.video_id: a for a in anns}
    assert "v_ok" in kept and issues.counts[kind] == 1
    if kind in ("empty_sentence", "malformed_segment"):  # the pair is dropped, the video kept
        assert kept["v_bad"].sentences == ["a man runs"]
    else:
        assert "v_bad" not in kept


def test_non_utf8_annotation_file(tmp_path):
    path = tmp_path / "ann.json"
    path.write_bytes(b'{"v_1": {"duration": 1, "timestamps": [[0,1]], "sentences": ["caf\xe9"]}}')
    with pytest.raises(DataError, match="ann.json.*UTF-8"):
        A.read_activitynet_captions(str(path))


def test_not_json(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        A.read_activitynet_captions(str(path))


def test_reversed_and_out_of_range_are_counted_fixes(tmp_path):
    path = _write(tmp_path, {"v_1": {"duration": 10.0, "timestamps": [[6, 3], [8, 14]],
                                     "sentences": ["a b", "c d"]}})
    feats = str(tmp_path / "f.h5")
    write_features("c3d_hdf5", feats, {"v_1": np.ones((20, 4), np.float32)})
    issues = IssueLog("error")
    anns = A.read_activitynet_captions(path, issues, sort_by_time=False)
    ds = VideoDataset(anns, open_features("c3d_hdf5", feats), Vocabulary.build(["a b c d"]), issues)
    ex = ds.example(0)
    # [6, 3]: start 12, end max(6, 12) = 12 -> 1 frame; [8, 14]: 16..min(28, 19) = 16..19
    assert ex.clip_ranges == [(12, 12), (16, 19)]
    assert list(ex.frame_lengths) == [1, 4]
    assert issues.counts["segment_reversed"] == 1 and issues.counts["segment_out_of_range"] == 1


def test_sentence_of_only_punctuation_is_empty(tmp_path):
    path = _write(tmp_path, {"v_1": {**GOOD, "sentences": ["a man runs", "!!!"]}})
    anns = A.read_activitynet_captions(path)
    with pytest.raises(DataError, match="no tokens") as e:
        VideoDataset(anns, None, Vocabulary.build(["a man runs"]), IssueLog("error"))
    assert e.value.field == "sentences[1]"


def test_missing_and_nan_features_error_or_skip(tmp_path):
    path = _write(tmp_path, {"v_ok": GOOD, "v_nan": GOOD, "v_missing": GOOD})
    feats = str(tmp_path / "f.h5")
    bad = np.ones((20, 4), np.float32)
    bad[2, 2] = np.nan
    write_features("c3d_hdf5", feats, {"v_ok": np.ones((20, 4), np.float32), "v_nan": bad})
    vocab = Vocabulary.build(["a man runs he stops"])
    anns = A.read_activitynet_captions(path)
    strict = VideoDataset(anns, open_features("c3d_hdf5", feats), vocab, IssueLog("error"))
    with pytest.raises(DataError, match="v_nan.*NaN"):
        strict.example(1)
    with pytest.raises(DataError, match="v_missing.*no entry"):
        strict.example(2)
    lax = VideoDataset(anns, open_features("c3d_hdf5", feats), vocab, IssueLog("skip"))
    assert lax.example(0) is not None
    assert lax.example(1) is None and lax.example(2) is None
    assert lax.issues.counts["bad_features"] == 2
