"""Caption metrics: the project's wrapper equals a direct pycocoevalcap call on real outputs."""

import json

import pytest

from hse_tf.caption.metrics import (_simple_tokenize, align_dense_predictions, caption_scores,
                                    java_available)
from tests.conftest import shared_path

needs_java = pytest.mark.skipif(not java_available(), reason="Java runtime not found (METEOR "
                                "and the PTB tokenizer need it)")


def _real_pairs(n_videos=150):
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.errors import IssueLog
    results = json.load(open(shared_path("captioning_predictions",
                                         "bmt_captioning_results_val_1_e26.json")))["results"]
    anns = read_activitynet_captions(shared_path("activitynet_captions", "val_1.json"),
                                     issues=IssueLog("skip"))
    anns = [a for a in anns if a.video_id in results][:n_videos]
    return align_dense_predictions(results, anns)


@needs_java
def test_real_captioning_outputs_equal_direct_pycocoevalcap():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    preds, refs, skipped = _real_pairs()
    assert skipped == 0 and len(preds) == len(refs) > 300
    ours = caption_scores(preds, refs, use_java=True)
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": preds[k]}] for k in refs})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    direct = {f"BLEU@{i + 1}": 100 * b for i, b in enumerate(bleu)}
    direct["METEOR"] = 100 * Meteor().compute_score(gts, res)[0]
    direct["CIDEr"] = 100 * Cider().compute_score(gts, res)[0]
    assert ours == pytest.approx(direct, abs=1e-9)
    assert 0 < ours["BLEU@4"] < ours["BLEU@1"] < 100 and ours["METEOR"] > 0


def test_mismatched_keys_and_java_free_path():
    with pytest.raises(ValueError, match="1 keys without a prediction"):
        caption_scores({"a": "x"}, {"a": ["x"], "b": ["y"]}, use_java=False)
    logged = []
    # A perfect caption: BLEU@1 = 100 (every unigram matches, no brevity penalty).
    out = caption_scores({"a": "A man surfs."}, {"a": ["a man surfs"]}, use_java=False,
                         log=logged.append)
    assert "METEOR" not in out and "Java not found" in logged[0]
    assert out["BLEU@1"] == pytest.approx(100.0, abs=1e-4)
    assert _simple_tokenize({"k": ["He's IN, the water!"]}) == {"k": ["he's in the water"]}


def test_align_dense_predictions_picks_best_overlap():
    from hse_tf.data.annotations import VideoAnnotation
    ann = VideoAnnotation("v", 10.0, [(0.0, 4.0), (5.0, 10.0)], ["first", "second"])
    results = {"v": [{"sentence": "late", "timestamp": [6.0, 10.0]},
                     {"sentence": "early", "timestamp": [0.0, 3.0]}]}
    preds, refs, skipped = align_dense_predictions(results, [ann, VideoAnnotation(
        "w", 5.0, [(0.0, 5.0)], ["x"])])
    assert preds == {"v#0": "early", "v#1": "late"} and refs["v#1"] == ["second"]
    assert skipped == 1
