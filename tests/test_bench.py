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
