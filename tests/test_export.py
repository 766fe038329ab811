"""SavedModel export: in-graph preprocessing parity, Keras <-> SavedModel parity, bad requests."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from hse_tf.data import clips as C
from hse_tf.export import preprocess as P

TOL = 1e-5


def test_times_to_frames_matches_python_rule():
    rng = np.random.default_rng(0)
    cases = [(0.0, 10.0, 10.0, 20), (3.3, 2.1, 10.0, 20), (-1.0, 4.0, 10.0, 20),
             (9.9, 12.0, 10.0, 20), (11.0, 12.0, 10.0, 20), (0.0, 0.0, 10.0, 1),
             (65.01, 216.83, 216.82999999999998, 434)]
    for _ in range(300):
        d = float(rng.uniform(1, 300))
        a, b = rng.uniform(-10, d + 10, size=2)
        cases.append((float(a), float(b), d, int(rng.integers(1, 700))))
    t0, t1, d, n = (np.array(x) for x in zip(*cases))
    start, end = P.times_to_frames(np.stack([t0, t1], 1), d, n)
    expected = [C.time_to_frames(*c)[:2] for c in cases]
    np.testing.assert_array_equal(np.stack([start, end], 1), expected)


def test_spans_to_frames_matches_didemo_rule():
    spans = [(0, 5), (5, 0), (-1, 3), (2, 40), (10, 11), (6, 6), (9, 12), (12, 12), (12, 13),
             (13, 11)]
    start, end = P.spans_to_frames(np.array(spans), np.full(len(spans), 12))
    np.testing.assert_array_equal(np.stack([start, end], 1),
                                  [C.frame_span(s, 12)[:2] for s in spans])


def test_subsample_matches_python_rule():
    starts = np.array([0, 5, 3, 100, 7, 0], np.int64)
    ends = starts + np.array([0, 78, 79, 80, 300, 999], np.int64)
    idx, k = P.subsample(starts, ends)
    expected = [C.subsample_indices(s, e) for s, e in zip(starts, ends)]
    np.testing.assert_array_equal(k, [len(x) for x in expected])  # 1, 79, 80, 80, 80, 80
    np.testing.assert_array_equal(idx, np.concatenate(expected))


# ---- exported models ---------------------------------------------------------------------------

def _keras(model, examples):
    from hse_tf.data.pipeline import collate
    out = model(collate(examples, list(range(len(examples)))))
    return {k: v.numpy() for k, v in out.items()}


def _padded_video_request(split, idx, store):
    feats = [store.get(split.annotations[i].video_id) for i in idx]
    anns = [split.annotations[i] for i in idx]
    t_max, c_max = max(len(f) for f in feats), max(len(a.segments) for a in anns)
    x = np.full((len(idx), t_max + 3, feats[0].shape[1]), 7.0, np.float32)  # junk padding
    times = np.full((len(idx), c_max + 1, 2), -5.0)
    for b, (f, a) in enumerate(zip(feats, anns)):
        x[b, :len(f)] = f
        times[b, :len(a.segments)] = a.segments
    return dict(features=tf.constant(x),
                feature_lengths=tf.constant([len(f) for f in feats], tf.int64),
                clip_times=tf.constant(times, tf.float64),
                clip_counts=tf.constant([len(a.segments) for a in anns], tf.int64),
                durations=tf.constant([a.duration for a in anns], tf.float64))


def test_layout_and_metadata(exported):
    for name in ("hse_video", "hse_text"):
        path = exported["paths"][name]
        assert path == os.path.join(exported["out"], name, "1")
        assert os.path.exists(os.path.join(path, "saved_model.pb"))
        meta = json.load(open(os.path.join(path, "assets.extra", "hse_export.json")))
        assert meta["model"] == name and meta["hidden"] == 8 and meta["note"] == "test"
    sigs = exported["video"].signatures
    assert set(sigs) == {"serving_default", "ragged", "frame_spans"}
    args = sigs["serving_default"].structured_input_signature[1]
    assert set(args) == {"features", "feature_lengths", "clip_times", "clip_counts", "durations"}


@pytest.mark.parametrize("idx", [[0, 1, 2, 3, 4], [5]])
def test_video_parity_padded_and_ragged(exported, idx):
    split, store = exported["split"], exported["store"]
    want = _keras(exported["model"], [split.example(i) for i in idx])
    req = _padded_video_request(split, idx, store)
    got = exported["video"].signatures["serving_default"](**req)
    np.testing.assert_allclose(got["video"], want["video"], atol=TOL)
    counts = req["clip_counts"].numpy()
    clips = np.concatenate([got["clips"][b, :c] for b, c in enumerate(counts)])
    np.testing.assert_allclose(clips, want["clips"], atol=TOL)
    assert not np.any(got["clips"].numpy()[0, counts[0]:])  # zeros past the count
    # Same videos through the ragged signature.
    feats = [store.get(split.annotations[i].video_id) for i in idx]
    anns = [split.annotations[i] for i in idx]
    got = exported["video"].signatures["ragged"](
        features=tf.constant(np.concatenate(feats)),
        feature_row_splits=tf.constant(np.cumsum([0] + [len(f) for f in feats]), tf.int64),
        clip_times=tf.constant(np.concatenate([a.segments for a in anns]), tf.float64),
        clip_row_splits=tf.constant(np.cumsum([0] + [len(a.segments) for a in anns]), tf.int64),
        durations=tf.constant([a.duration for a in anns], tf.float64))
    np.testing.assert_allclose(got["video"], want["video"], atol=TOL)
    np.testing.assert_allclose(got["clips"], want["clips"], atol=TOL)


def test_one_clip_video_and_frame_spans(exported):
    from hse_tf.data.pipeline import collate
    from hse_tf.data.video_dataset import VideoExample
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(200, 8)).astype(np.float32)  # longer than 80 frames: subsampled
    spans = [(150, 20), (-3, 9)]  # reversed -> swapped; out of range -> whole video (DiDeMo)
    # Training sorts each video's segments by (start, end) as given: (-3, 9) before (150, 20).
    # The export does the same in the graph and answers clips in the request's order.
    ranges = [C.frame_span(s, 200)[:2] for s in sorted(spans)]
    idx = [C.subsample_indices(s, e) for s, e in ranges]
    ex = VideoExample("v", feats[np.concatenate(idx)], np.array([len(i) for i in idx], np.int32),
                      feats[C.subsample_indices(0, 199)], np.array([2, 3], np.int32),
                      np.array([1, 1], np.int32), ranges)
    want = exported["model"](collate([ex], [0]))
    for request in (spans, spans[::-1]):
        got = exported["video"].signatures["frame_spans"](
            features=tf.constant(feats[None]), feature_lengths=tf.constant([200], tf.int64),
            clip_spans=tf.constant([request], tf.int64), clip_counts=tf.constant([2], tf.int64))
        np.testing.assert_allclose(got["video"], want["video"], atol=TOL)  # order-free
        rows = [sorted(spans).index(s) for s in request]
        np.testing.assert_allclose(got["clips"][0], np.asarray(want["clips"])[rows], atol=TOL)
    ranges = [C.frame_span(s, 200)[:2] for s in spans]
    idx = [C.subsample_indices(s, e) for s, e in ranges]
    one = exported["video"].signatures["frame_spans"](
        features=tf.constant(feats[None]), feature_lengths=tf.constant([200], tf.int64),
        clip_spans=tf.constant([[spans[0]]], tf.int64), clip_counts=tf.constant([1], tf.int64))
    ex1 = VideoExample("v", feats[idx[0]], np.array([len(idx[0])], np.int32),
                       feats[C.subsample_indices(0, 199)], np.array([2], np.int32),
                       np.array([1], np.int32), ranges[:1])
    np.testing.assert_allclose(one["video"], exported["model"](collate([ex1], [0]))["video"],
                               atol=TOL)


def test_text_parity_with_27_sentence_paragraph(exported):
    from hse_tf.data.pipeline import collate
    from hse_tf.data.video_dataset import VideoExample
    vocab, anns = exported["vocab"], exported["anns"]
    paragraphs = [anns[0].sentences, anns[1].sentences[:1],
                  [anns[i % 16].sentences[0] for i in range(27)],
                  ["a zyzzyva qwxv surfs"]]  # unknown words -> UNK
    exs = []
    for p in paragraphs:
        ids = [np.asarray(vocab.ids(s), np.int32) for s in p]
        n = len(p)
        exs.append(VideoExample("v", np.zeros((n, 8), np.float32), np.ones(n, np.int32),
                                np.zeros((1, 8), np.float32), np.concatenate(ids),
                                np.array([len(i) for i in ids], np.int32), []))
    want = exported["model"](collate(exs, list(range(len(exs)))))
    s_max = max(len(p) for p in paragraphs)
    padded = [p + [""] * (s_max - len(p)) for p in paragraphs]
    got = exported["text"].signatures["serving_default"](
        sentences=tf.constant(padded), sentence_counts=tf.constant([len(p) for p in paragraphs],
                                                                   tf.int64))
    np.testing.assert_allclose(got["paragraph"], want["paragraph"], atol=TOL)
    flat = np.concatenate([got["sentences"][b, :len(p)] for b, p in enumerate(paragraphs)])
    np.testing.assert_allclose(flat, want["sentences"], atol=TOL)
    assert got["unknown_counts"][3, 0] == sum(vocab.ids("a zyzzyva qwxv surfs")[i] == 1
                                              for i in range(4)) >= 2
    assert got["token_counts"][3, 0] == 4
    rag = exported["text"].signatures["ragged"](
        sentences=tf.constant(sum(paragraphs, [])),
        paragraph_row_splits=tf.constant(np.cumsum([0] + [len(p) for p in paragraphs]), tf.int64))
    np.testing.assert_allclose(rag["paragraph"], want["paragraph"], atol=TOL)
    one = exported["text"].signatures["ragged"](
        sentences=tf.constant(paragraphs[1]), paragraph_row_splits=tf.constant([0, 1], tf.int64))
    np.testing.assert_allclose(one["paragraph"][0], want["paragraph"][1], atol=TOL)


def _raises(fn, match, **kwargs):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        fn(**kwargs)


def test_bad_requests_fail_with_named_inputs(exported):
    text = exported["text"].signatures["ragged"]
    padded_text = exported["text"].signatures["serving_default"]
    video = exported["video"].signatures["serving_default"]
    s, i64 = tf.constant, tf.int64
    _raises(text, "paragraph 0, sentence 1 has no words", sentences=s(["a man", " ... "]),
            paragraph_row_splits=s([0, 2], i64))
    _raises(text, "paragraph 1, sentence 0 has no words", sentences=s(["a man", "a dog", "?"]),
            paragraph_row_splits=s([0, 2, 3], i64))
    _raises(text, "UTF-8", sentences=s([b"a man \xff\xfe surfs"]),
            paragraph_row_splits=s([0, 1], i64))
    _raises(text, "more than 30 sentences", sentences=s(["a man"] * 31),
            paragraph_row_splits=s([0, 31], i64))
    _raises(text, "last row split", sentences=s(["a man", "a dog"]),
            paragraph_row_splits=s([0, 1], i64))
    _raises(text, "empty batch", sentences=s([], tf.string), paragraph_row_splits=s([0], i64))
    _raises(padded_text, "empty batch", sentences=tf.zeros([0, 2], tf.string),
            sentence_counts=s([], i64))
    _raises(padded_text, "exceeds the padded width", sentences=s([["a man"]]),
            sentence_counts=s([2], i64))
    req = _padded_video_request(exported["split"], [0, 1], exported["store"])
    nan = req["features"].numpy()
    nan[1, 0, 3] = np.nan
    _raises(video, "NaN", **{**req, "features": s(nan)})
    _raises(video, "durations", **{**req, "durations": s([10.0, 0.0], tf.float64)})
    _raises(video, "feature_lengths", **{**req, "feature_lengths": s([0, 3], i64)})
    _raises(video, "different batch sizes|one per video", **{**req, "clip_counts": s([1], i64)})


def test_parity_on_activitynet_shaped_inputs(tmp_path):
    # 500-d C3D-sized features, real val_1 durations and timestamps (including segments that end
    # after the video, which both sides clamp), features of length round(2 * duration).
    import keras
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.pipeline import collate
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import model_from_config
    from hse_tf.export import export_encoders
    from tests.conftest import shared_path
    anns = read_activitynet_captions(shared_path("activitynet_captions", "val_1.json"),
                                     issues=IssueLog("skip"))
    over = [a for a in anns if any(s[1] > a.duration for s in a.segments)][:3]
    picked = over + anns[:3]
    rng = np.random.default_rng(0)
    feats = {a.video_id: rng.normal(size=(max(1, round(2 * a.duration)), 500)).astype(np.float32)
             for a in picked}

    class Store:
        path = "memory"

        def get(self, vid):
            return feats[vid]

    vocab = Vocabulary.build([s for a in picked for s in a.sentences])
    split = VideoDataset(picked, Store(), vocab, IssueLog("skip"))
    keras.utils.set_random_seed(1)
    model = model_from_config({"model": "hse", "hidden": 16}, 500, len(vocab), 12)
    paths = export_encoders(model, vocab, str(tmp_path))
    want = model(collate([split.example(i) for i in range(len(split))], list(range(len(split)))))
    video = tf.saved_model.load(paths["hse_video"]).signatures["ragged"]
    got = video(
        features=tf.constant(np.concatenate([feats[a.video_id] for a in picked])),
        feature_row_splits=tf.constant(np.cumsum([0] + [len(feats[a.video_id]) for a in picked]),
                                       tf.int64),
        clip_times=tf.constant(np.concatenate([a.segments for a in picked]), tf.float64),
        clip_row_splits=tf.constant(np.cumsum([0] + [len(a.segments) for a in picked]), tf.int64),
        durations=tf.constant([a.duration for a in picked], tf.float64))
    np.testing.assert_allclose(got["video"], want["video"], atol=TOL)
    np.testing.assert_allclose(got["clips"], want["clips"], atol=TOL)
    text = tf.saved_model.load(paths["hse_text"]).signatures["ragged"]
    got = text(sentences=tf.constant([s for a in picked for s in a.sentences]),
               paragraph_row_splits=tf.constant(np.cumsum([0] + [len(a.sentences)
                                                                 for a in picked]), tf.int64))
    np.testing.assert_allclose(got["paragraph"], want["paragraph"], atol=TOL)
    np.testing.assert_allclose(got["sentences"], want["sentences"], atol=TOL)


@pytest.mark.parametrize("max_frames,sort_by_time", [(80, True), (3, True), (4, False)])
def test_training_and_export_cut_random_annotations_alike(tmp_path, max_frames, sort_by_time):
    """The two preprocessing paths, over random ActivityNet-style annotations: the training
    pipeline (reader, VideoDataset, collate: numpy) and the exported signatures' (video_batch:
    TensorFlow) give the same frames, clip lengths, whole-video frames and clip order for the
    run's max_frames and sort_by_time. Segments run past the video, are zero-length, start at
    0 or end at the duration, in random order."""
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.pipeline import collate
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    rng = np.random.default_rng(max_frames)
    raw, feats = {}, {}
    for v in range(12):
        duration = float(rng.uniform(2, 200))
        segments = []
        for _ in range(int(rng.integers(1, 7))):
            a, b = sorted(rng.uniform(-0.1, 1.15, size=2) * duration)
            segments.append([round(max(a, 0.0), 2), round(b, 2)])
        segments[0] = [0.0, round(duration, 2)] if v % 3 == 0 else segments[0]
        vid = f"v_{v:02d}"
        raw[vid] = {"duration": duration, "timestamps": segments,
                    "sentences": [f"words {i}" for i in range(len(segments))]}
        feats[vid] = rng.normal(size=(int(rng.integers(1, 400)), 3)).astype(np.float32)
    path = tmp_path / "captions.json"
    json.dump(raw, open(path, "w"))
    anns = read_activitynet_captions(str(path), issues=IssueLog("skip"),
                                     sort_by_time=sort_by_time)

    class Store:
        path = "memory"

        def get(self, vid):
            return feats[vid]

    split = VideoDataset(anns, Store(), Vocabulary.build(["words 0"]), IssueLog("skip"),
                         max_frames)
    want = collate([split.example(i) for i in range(len(split))], list(range(len(split))))
    ids = [a.video_id for a in anns]
    got = P.video_batch(
        tf.constant(np.concatenate([feats[v] for v in ids])),
        tf.constant([len(feats[v]) for v in ids], tf.int64),
        tf.constant([len(raw[v]["timestamps"]) for v in ids], tf.int64),
        tf.constant([t for v in ids for t in raw[v]["timestamps"]], tf.float64),
        tf.constant([raw[v]["duration"] for v in ids], tf.float64),
        max_frames=max_frames, sort_by_time=sort_by_time)
    for key in ("frames", "frame_lengths", "clip_counts", "flat_frames", "flat_lengths"):
        np.testing.assert_array_equal(got[key].numpy(), want[key], err_msg=key)
