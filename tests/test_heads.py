"""Zero-shot recognition and the MLP classifier on frozen embeddings."""

import json
import os

import numpy as np
import pytest

from hse_tf.heads.whole_video import topk_accuracy


def test_topk_accuracy_hand_computed():
    # Video 0: best class 2 (label 2) -> top-1 hit. Video 1: order 0, 1, 2, label 2 -> top-1
    # miss, top-3 hit. Video 2: labels {0, 1}, best class 1 -> hit. top-1 = 2/3, top-3 = 3/3.
    scores = np.array([[0.1, 0.2, 0.9], [0.9, 0.5, 0.1], [0.0, 0.8, 0.3]])
    out = topk_accuracy(scores, [{2}, {2}, {0, 1}], ks=(1, 3))
    assert out == pytest.approx({"top1": 200 / 3, "top3": 100.0})


def test_zero_shot_end_to_end(trained_run, tiny_demo, tmp_path):
    from hse_tf.data.annotations import read_tsp_labels
    from hse_tf.heads.jobs import zero_shot_run as run
    classes = tmp_path / "classes.json"
    names = sorted({s[2] for v in read_tsp_labels(tiny_demo["labels_val"]).values() for s in v})
    json.dump(names + ["Zyzzyva qwxv"], open(classes, "w"))
    logged = []
    out = tmp_path / "zs.json"
    res = run(trained_run, tiny_demo["labels_val"], tiny_demo["features"],
              classes_path=str(classes), out=str(out), log=logged.append)
    assert res["videos"] == 16 and res["classes"] == len(names) + 1
    assert res["no_known_words"] == ["Zyzzyva qwxv"]
    assert any("no word in the vocabulary" in m for m in logged)
    # The same numbers, one video and one class name at a time and ranked here.
    expected = _zero_shot_one_by_one(trained_run, tiny_demo, names + ["Zyzzyva qwxv"])
    assert (res["top1"], res["top5"]) == pytest.approx(expected, abs=1e-6)
    assert json.load(open(out))["top5"] == res["top5"]


def _zero_shot_one_by_one(run, demo, names):
    """(top-1, top-5) % of zero-shot recognition computed without the batched job: every
    video's whole features subsampled to the run's frames and encoded alone, every class name
    alone, cosine by hand."""
    from hse_tf.data.annotations import read_tsp_labels
    from hse_tf.data.clips import subsample_indices
    from hse_tf.data.features import open_features
    from hse_tf.heads.zeroshot import embed_class_names
    from hse_tf.training.runs import load_run
    cfg, vocab, model, _ = load_run(run)
    store = open_features("c3d_hdf5", demo["features"])
    labels = read_tsp_labels(demo["labels_val"])
    classes = np.concatenate([embed_class_names(model, vocab, [n])[0] for n in names])
    hits = {1: 0, 5: 0}
    for vid in sorted(labels):
        x = store.get(vid)
        x = x[subsample_indices(0, len(x) - 1, cfg["max_frames"])]
        v = model.video_tower.clip_encoder(x[None], np.asarray([len(x)], np.int32)).numpy()[0]
        scores = classes @ (v / np.linalg.norm(v))
        order = np.argsort(-scores, kind="stable")
        truth = {names.index(s[2]) for s in labels[vid]}
        for k in hits:
            hits[k] += bool(truth & set(order[:k].tolist()))
    return 100 * hits[1] / len(labels), 100 * hits[5] / len(labels)


def test_classifier_train_eval_round_trip(trained_run, tiny_demo, tmp_path):
    from hse_tf.heads.jobs import eval_classifier as eval_saved, train_classifier as train
    out = str(tmp_path / "mlp")
    res = train(trained_run, tiny_demo["labels_train"], tiny_demo["labels_val"],
                tiny_demo["features"], out, hidden=16, epochs=30, log=lambda *_: None)
    assert res["train"]["videos"] == 48 and res["val"]["videos"] == 16
    # Frozen features, 30 epochs: the MLP fits its training set better than the majority class.
    assert res["train"]["top1"] > res["train"]["majority_baseline_top1"]
    assert res["train"]["largest"] >= res["train"]["smallest"] >= 1
    again = eval_saved(out, tiny_demo["labels_val"], tiny_demo["features"], log=lambda *_: None)
    assert again["top1"] == pytest.approx(res["val"]["top1"])
    assert os.path.exists(os.path.join(out, "classifier.keras"))


def test_real_class_names_against_a_real_vocabulary():
    # The 200 ActivityNet v1.3 names through the sentence encoder with the vocabulary of the real
    # ActivityNet Captions training sentences: misspelt names are reported, none is dropped.
    from hse_tf.data.annotations import read_activitynet_captions, read_tsp_labels
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import model_from_config
    from hse_tf.heads.zeroshot import embed_class_names
    from tests.conftest import shared_path
    names = json.load(open(shared_path("activitynet_v1.3_labels", "activitynet200_classes.json")))
    val = read_tsp_labels(shared_path("activitynet_v1.3_labels", "tsp",
                                      "activitynet_v1-3_valid_tsp_groundtruth.csv"))
    assert len(names) == 200 and {s[2] for v in val.values() for s in v} <= set(names)
    anns = read_activitynet_captions(shared_path("activitynet_captions", "train.json"),
                                     issues=IssueLog("skip"))
    vocab = Vocabulary.build([s for a in anns for s in a.sentences], min_count=5)
    model = model_from_config({"model": "hse", "hidden": 8}, 4, len(vocab), 6)
    emb, no_known, some_unknown = embed_class_names(model, vocab, names)
    assert emb.shape == (200, 8) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert "Plataform diving" in some_unknown + no_known  # the dataset's own spelling
    assert "Archery" not in some_unknown + no_known


def test_heads_cut_videos_as_their_run_did(trained_run, tiny_demo, tmp_path, monkeypatch):
    """Zero-shot and the classifier embed whole videos with the run's --max_frames (here 3),
    not the default: the same rule the exports follow."""
    import shutil

    from hse_tf.heads import jobs, whole_video
    run = str(tmp_path / "run")
    shutil.copytree(trained_run, run)
    cfg_path = os.path.join(run, "run_config.json")
    cfg = json.load(open(cfg_path))
    json.dump({**cfg, "max_frames": 3}, open(cfg_path, "w"))
    seen, real = [], whole_video.embed_whole_videos

    def spy(*args, **kw):
        seen.append(args[5] if len(args) > 5 else kw.get("max_frames"))
        return real(*args, **kw)
    monkeypatch.setattr(whole_video, "embed_whole_videos", spy)
    jobs.zero_shot_run(run, tiny_demo["labels_val"], tiny_demo["features"], log=lambda m: None)
    jobs.train_classifier(run, tiny_demo["labels_train"], None, tiny_demo["features"],
                          str(tmp_path / "mlp"), epochs=1, log=lambda m: None)
    assert seen == [3, 3]
