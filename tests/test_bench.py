"""The known-answer benchmark's features (bench/known_answer.py), by hand."""

import os
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import known_answer  # noqa: E402


def _video(content, noise=0.0, rho=0.0):
    ann = {"duration": 10.0, "timestamps": [[2.0, 6.0]],
           "sentences": ["The man plays a guitar."]}  # content words: man, plays, guitar
    words = {"man": [1.0, 0.0, 0.0], "plays": [0.0, 2.0, 0.0], "guitar": [0.0, 0.0, 3.0]}
    prototypes = {w: np.asarray(v) for w, v in words.items()}
    return known_answer.video_features(ann, prototypes, 3, noise, np.random.default_rng(0),
                                       rho=rho, content=content)


def test_a_held_segment_shows_its_words_mean_on_every_frame():
    x = _video("held")
    assert x.shape == (10, 3)
    scene = x[0]
    np.testing.assert_allclose(x[[0, 1, 6, 7, 8, 9]], np.tile(scene, (6, 1)), atol=1e-6)
    np.testing.assert_allclose(x[2:6] - scene, np.tile([1 / 3, 2 / 3, 1.0], (4, 1)), atol=1e-6)


def test_a_sequence_segment_shows_its_words_in_turn():
    x = _video("sequence")
    scene = x[0]
    # 4 frames, 3 words: shares floor(i * 3 / 4) = 0, 0, 1, 2
    np.testing.assert_allclose(x[2:6] - scene, [[1, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]],
                               atol=1e-6)


def test_ar1_noise_has_its_correlation_and_scale():
    e = known_answer.ar1_noise(np.random.default_rng(1), (20000, 2), 2.0, 0.9)
    assert e.std() == pytest.approx(2.0, rel=0.05)
    lag1 = np.corrcoef(e[1:, 0], e[:-1, 0])[0, 1]
    assert lag1 == pytest.approx(0.9, abs=0.02)


def test_each_setting_is_made_as_it_says(tmp_path, monkeypatch):
    """ensure() fills options from the default setting: every named setting keeps its own
    (the i.i.d. and correlated settings show a segment's words in turn, not held content)."""
    made = {}

    def fake_generate(out, **settings):
        made[os.path.basename(out)] = settings
        return known_answer._paths(out)
    monkeypatch.setattr(known_answer, "generate", fake_generate)
    for name, chosen in known_answer.SETTINGS.items():
        known_answer.ensure(str(tmp_path / name), **chosen)
    assert made["iid"].get("content", "sequence") == "sequence"
    assert made["correlated"].get("content", "sequence") == "sequence"
    assert made["held"]["content"] == "held"
    assert (made["iid"].get("rho", 0.0), made["iid"]["noise"]) == (0.0, known_answer.NOISE)


import reference  # noqa: E402  (bench/reference.py)


class _Frames:
    def __init__(self, videos):
        self.videos = videos

    def get(self, vid):
        return self.videos[vid]


def test_the_reference_reads_a_video_as_its_segments_and_its_words():
    frames = np.arange(20, dtype=np.float64).reshape(10, 2)  # frame i: [2i, 2i + 1]
    ann = {"v": {"duration": 10.0, "timestamps": [[5.2, 7.0], [0.0, 2.0]],
                 "sentences": ["A cat sits.", "The dog runs."]}}
    prototypes = {"cat": np.array([1.0, 0.0]), "sits": np.array([0.0, 3.0]),
                  "dog": np.array([2.0, 2.0]), "runs": np.array([4.0, 0.0])}
    glove = {"a": np.array([9.0]), "cat": np.array([3.0]), "the": np.array([0.0]),
             "dog": np.array([6.0])}  # "sits" and "runs" have no GloVe vector here
    got = reference.pairs(ann, _Frames({"v": frames}), prototypes, glove)
    # in time order: [0, 2] -> frames 0-1 (means [1, 2]); [5.2, 7] -> frames 5-6 ([11, 12])
    np.testing.assert_allclose(got["segments"], [[6.0, 7.0]])
    np.testing.assert_allclose(got["whole video"], [[9.0, 10.0]])
    # dog runs: [3, 1]; cat sits: [0.5, 1.5]
    np.testing.assert_allclose(got["generator's text"], [[1.75, 1.25]])
    # "the dog": 3; "a cat": 6
    np.testing.assert_allclose(got["plain text"], [[4.5]])


def test_a_linear_map_finds_the_pairs_a_cosine_misses():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(4, 4))
    offset = np.array([50.0, 0, 0, 0])  # every paragraph shares it: cosine sees only it

    def split(n):
        video = rng.normal(size=(n, 4))
        return {"segments": video, "generator's text": video @ mix + offset}

    train, val = split(200), split(50)
    mapped = reference.reference(train, val, "generator's text", "segments", "linear map", 1e-6)
    assert mapped["p2v"]["R@1"] == mapped["v2p"]["R@1"] == 100.0
    plain = reference.reference(train, val, "generator's text", "segments", "cosine", 1e-6)
    assert plain["p2v"]["R@1"] < 50.0
    np.testing.assert_allclose(reference.ridge(np.eye(2), np.array([[2.0], [4.0]]), 1.0),
                               [[1.0], [2.0]])  # (I + I)^-1 [2, 4]


import train_throughput  # noqa: E402  (bench/train_throughput.py)


def test_throughput_encoder_entries_set_attention_options_per_size():
    assert train_throughput.encoder_arguments("gru", 256) == {}
    assert train_throughput.encoder_arguments("attention", 256) == {
        "low_encoder": "attention", "high_encoder": "attention"}
    assert train_throughput.encoder_arguments("attention:width=hidden/2", 1024) == {
        "low_encoder": "attention", "high_encoder": "attention", "attention": {"width": 512}}
    assert train_throughput.encoder_arguments("attention:width=96;heads=2", 256)[
        "attention"] == {"width": 96, "heads": 2}
    assert train_throughput.encoder_arguments("attention:width_ratio=1.0", 256)[
        "attention"] == {"width_ratio": 1.0}
