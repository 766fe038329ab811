"""Gallery indices: exact/faiss search, files, resumable builds, the search CLI."""

import json
import os

import numpy as np
import pytest

from hse_tf import cli
from hse_tf.index import GalleryIndex, IndexFileError


def test_exact_search_hand_computed():
    # Rows are unit vectors; query (1, 1)/sqrt(2): cosines 0.7071, 0.7071, 0 and -0.7071.
    # Ties keep row order (stable sort).
    idx = GalleryIndex(["a", "b", "c", "d"], [[1, 0], [0, 2], [1, -1], [-1, 0]], kind="exact")
    scores, rows = idx.search([[1, 1]], k=3)
    np.testing.assert_array_equal(rows, [[0, 1, 2]])
    np.testing.assert_allclose(scores, [[0.70710677, 0.70710677, 0.0]], atol=1e-6)
    assert idx.search([[1, 1]], k=10)[1].shape == (1, 4)  # k capped at N


@pytest.mark.parametrize("kind,params", [("ivf", {"nlist": 8, "nprobe": 8}),
                                         ("hnsw", {"m": 16, "ef_search": 64})])
def test_faiss_matches_exact_and_round_trips(tmp_path, kind, params):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    q = rng.normal(size=(20, 16)).astype(np.float32)
    exact = GalleryIndex([f"v{i}" for i in range(600)], x, kind="exact")
    approx = GalleryIndex(exact.ids, x, kind=kind, params=params)
    e_scores, e_rows = exact.search(q, 10)
    a_scores, a_rows = approx.search(q, 10)
    # nprobe = nlist makes IVF exhaustive; HNSW at this size finds the exact top-10 too.
    np.testing.assert_array_equal(a_rows[:, 0], e_rows[:, 0])
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(a_rows, e_rows)])
    assert recall >= 0.95
    np.testing.assert_allclose(a_scores[:, 0], e_scores[:, 0], atol=1e-5)
    approx.save(str(tmp_path / "i"))
    back = GalleryIndex.load(str(tmp_path / "i"))
    assert back.kind == kind and back.params == approx.params and back.ids == approx.ids
    np.testing.assert_array_equal(back.search(q, 10)[1], a_rows)


def test_ivfpq_reranks_to_true_cosines_and_maps_the_vectors(tmp_path):
    # Clustered rows (100 centres, 120 rows each), like trained embeddings.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, 64)).astype(np.float32)
    x = centres[rng.integers(0, 100, 12_000)] + 0.1 * rng.normal(size=(12_000, 64)).astype(
        np.float32)
    q = centres[rng.integers(0, 100, 30)] + 0.1 * rng.normal(size=(30, 64)).astype(np.float32)
    ids = [f"v{i}" for i in range(len(x))]
    exact = GalleryIndex(ids, x, kind="exact")
    pq = GalleryIndex(ids, x, kind="ivfpq", params={"nlist": 32, "nprobe": 8, "pq_m": 16,
                                                     "rerank": 200})
    e_scores, e_rows = exact.search(q, 10)
    scores, rows = pq.search(q, 10)
    assert np.mean([len(set(a) & set(e)) / 10 for a, e in zip(rows, e_rows)]) >= 0.95
    # The printed scores are the exact cosines of the returned rows, best first.
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    np.testing.assert_allclose(scores, np.take_along_axis(qn @ xn.T, rows, 1), atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)
    pq.save(str(tmp_path / "pq"))
    back = GalleryIndex.load(str(tmp_path / "pq"))
    assert isinstance(back.embeddings, np.memmap)  # read on demand, not loaded
    b_scores, b_rows = back.search(q, 10)
    np.testing.assert_array_equal(b_rows, rows)
    np.testing.assert_allclose(b_scores, scores, atol=1e-6)
    assert GalleryIndex(ids[:100], x[:100], kind="exact").kind == "exact"
    with pytest.raises(ValueError, match="ivfpq' needs at least 10,000 rows"):
        GalleryIndex(ids[:500], x[:500], kind="ivfpq")


def test_auto_kind_and_defaults():
    x = np.eye(4, dtype=np.float32)
    assert GalleryIndex(list("abcd"), x).kind == "exact"
    from hse_tf.index.gallery_index import default_params
    p = default_params("ivf", 1_000_000)
    assert p == {"nlist": 1000, "nprobe": 62}  # sqrt(1e6); 1000 // 16
    assert default_params("ivf", 100) == {"nlist": 2, "nprobe": 2}  # 100 // 39 = 2 lists
    # Beyond 50,000 rows 'auto' is IVF-PQ with exact re-ranking (bench/search.py at 1M).
    assert default_params("ivfpq", 1_000_000) == {"nlist": 1000, "nprobe": 16, "pq_m": 64,
                                                  "rerank": 200}


def test_bad_index_files_and_queries(tmp_path):
    path = str(tmp_path / "i")
    GalleryIndex(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], kind="exact").save(path)
    idx = GalleryIndex.load(path)
    with pytest.raises(ValueError, match="query dimension 3 does not match the index's 2"):
        idx.search([[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        GalleryIndex(["a"], [[np.nan, 1.0]])
    with pytest.raises(IndexFileError, match="no index here"):
        GalleryIndex.load(str(tmp_path / "missing"))
    with open(os.path.join(path, "embeddings.npy"), "wb") as f:
        f.write(b"\x93NUMPY garbage")
    with pytest.raises(IndexFileError, match="embeddings.npy"):
        GalleryIndex.load(path)
    with open(os.path.join(path, "index.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(IndexFileError, match="corrupt index metadata"):
        GalleryIndex.load(path)
    ivf = str(tmp_path / "ivf")
    GalleryIndex([f"v{i}" for i in range(100)], np.random.default_rng(0).normal(size=(100, 4)),
                 kind="ivf", params={"nlist": 2}).save(ivf)
    with open(os.path.join(ivf, "faiss.index"), "wb") as f:
        f.write(b"truncated")
    with pytest.raises(IndexFileError, match="faiss.index: checksum mismatch"):
        GalleryIndex.load(ivf)
    # An index written before checksums (no format field): the faiss reader's own error,
    # naming the file.
    meta = json.load(open(os.path.join(ivf, "index.json")))
    del meta["checksums"], meta["format"]
    json.dump(meta, open(os.path.join(ivf, "index.json"), "w"))
    with pytest.raises(IndexFileError, match="faiss.index: cannot read"):
        GalleryIndex.load(ivf)


# ---- built from exported models -------------------------------------------------------------

def _cli(*args):
    from hse_tf.index.__main__ import main
    return cli.run(main, [str(a) for a in args])


def test_build_matches_keras_and_resumes(exported, tiny_demo, tmp_path, capsys):
    from hse_tf.data.pipeline import collate
    split = exported["split"]
    base = ["build", "--model", exported["out"], "--features", tiny_demo["features"],
            "--annotations", tiny_demo["val_1"], "--quiet"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert _cli(*base, "--out", full, "--shard_size", 5) == 0
    # Stop after one shard of 5, then finish: the same index as the uninterrupted build.
    assert _cli(*base, "--out", part, "--shard_size", 5, "--max_shards", 1) == 0
    assert "rerun to continue" in capsys.readouterr().out
    assert sorted(os.listdir(str(part) + ".partial/shards")) == ["00000.npz", "00000.npz.sha256"]
    assert not os.path.exists(part)
    with pytest.raises(SystemExit):  # argparse: --shard_size must be an int
        _cli(*base, "--out", part, "--shard_size", "x")
    assert _cli(*base, "--out", part, "--shard_size", 4) == 2  # other settings: refused
    assert "interrupted build with other inputs or settings" in capsys.readouterr().err
    assert _cli(*base, "--out", part, "--shard_size", 5) == 0
    assert not os.path.exists(str(part) + ".partial")
    a, b = GalleryIndex.load(str(full)), GalleryIndex.load(str(part))
    assert a.ids == b.ids == split.video_ids
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)
    # The index holds what the Keras model gives for the same videos and clips.
    want = exported["model"](collate([split.example(i) for i in range(len(split))],
                                     list(range(len(split)))))
    np.testing.assert_allclose(a.embeddings, want["video"], atol=1e-5)
    clips = GalleryIndex.load(str(full / "clips"))
    np.testing.assert_allclose(clips.embeddings, want["clips"], atol=1e-5)
    first = clips.ids[0]
    assert first["video"] == split.video_ids[0]
    assert (first["start"], first["end"]) == tuple(split.annotations[0].segments[0])
    # The same build as an Apache Beam pipeline (DirectRunner; RunInference over hse_video):
    # the same shards, hence the same index.
    pytest.importorskip("apache_beam")
    beam = tmp_path / "beam"
    assert _cli(*base, "--out", beam, "--shard_size", 5, "--runner", "DirectRunner",
                "--direct_num_workers", 1) == 0
    c = GalleryIndex.load(str(beam))
    assert c.ids == a.ids
    np.testing.assert_allclose(c.embeddings, a.embeddings, atol=1e-6)
    beam_clips = GalleryIndex.load(str(beam / "clips"))
    assert beam_clips.ids == clips.ids
    np.testing.assert_allclose(beam_clips.embeddings, clips.embeddings, atol=1e-6)


def test_search_cli(exported, tiny_demo, tmp_path, capsys):
    from hse_tf.data.pipeline import collate
    split = exported["split"]
    out, text = tmp_path / "idx", tmp_path / "text"
    assert _cli("build", "--model", exported["out"], "--features", tiny_demo["features"],
                "--out", out, "--uniform_clips", 3, "--quiet") == 0
    assert _cli("build-text", "--model", exported["out"], "--annotations", tiny_demo["val_1"],
                "--out", text, "--quiet") == 0
    capsys.readouterr()
    query = " ".join(split.annotations[2].sentences)
    assert _cli("search", out, query, "-k", 5, "--json") == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert len(res) == 5 and [r["rank"] for r in res] == [1, 2, 3, 4, 5]
    # Scores are cosines between the Keras model's paragraph and the indexed videos (every
    # video of the feature file, 3 uniform clips each).
    index = GalleryIndex.load(str(out))
    para = exported["model"](collate([split.example(2)], [0]))["paragraph"].numpy()[0]
    sims = index.embeddings @ para
    assert res[0]["id"] == index.ids[int(np.argmax(sims))]
    assert res[0]["score"] == pytest.approx(float(sims.max()), abs=1e-5)
    # Clip search: one sentence -> moments; uniform clips carry frame ranges.
    assert _cli("search", out / "clips", split.annotations[0].sentences[0], "-k", 2,
                "--json") == 0
    clip = json.loads(capsys.readouterr().out)["results"][0]["id"]
    assert set(clip) == {"video", "start_frame", "end_frame"}
    assert _cli("search", out / "clips", "one. two.") == 2
    assert "one sentence" in capsys.readouterr().err
    # Video -> paragraphs.
    vid = split.video_ids[1]
    assert _cli("search", out, "--video_id", vid, "--text_index", text, "-k", 3) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    # Queries the vocabulary does not cover.
    assert _cli("search", out, "zyzzyva qwxv", "--on_unknown", "refuse") == 2
    assert "no word of the query" in capsys.readouterr().err
    assert _cli("search", out, "zyzzyva qwxv", "-k", 1) == 0
    assert "ranking by the UNK embedding" in capsys.readouterr().err
    assert _cli("search", out, "?!") == 2
    assert "has no words" in capsys.readouterr().err
    # A model of another size than the index's: a clear error.
    other = GalleryIndex(index.ids, np.ones((len(index), 5), np.float32),
                         metadata={**index.metadata})
    other.save(str(tmp_path / "other"))
    assert _cli("search", tmp_path / "other", query) == 2
    assert "8-d embeddings but the index holds 5-d" in capsys.readouterr().err


def test_index_reads_annotations_as_the_exported_run_did(tmp_path):
    """index build / build-text order each video's (segment, sentence) pairs as the model's run
    did: the export's preprocessing says whether by time (exports from before: by time)."""
    from hse_tf.data.errors import IssueLog
    from hse_tf.index.__main__ import _annotations
    path = tmp_path / "captions.json"
    json.dump({"v1": {"duration": 10.0, "timestamps": [[5.0, 9.0], [0.0, 4.0]],
                      "sentences": ["later", "first"]}}, open(path, "w"))
    unsorted = {"preprocessing": {"max_frames": 80, "sort_by_time": False}}
    for meta, want in (({}, ["first", "later"]), (unsorted, ["later", "first"])):
        (ann,) = _annotations(str(path), "activitynet", IssueLog("error"), meta)
        assert ann.sentences == want
