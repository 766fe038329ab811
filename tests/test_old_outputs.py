"""Run folders and indices written by the previous main still load, and give the same numbers.

tests/data/previous_main/ was written by main at 660e7e9 (its make.py, run from that checkout):
a tiny HSE run (hidden 8; run_config.json from before `model_config`), an exact index, and
the embeddings that main computed for one fixed batch (expected.npz).
"""

import json
import os

import numpy as np

from tests.conftest import ROOT

OLD = os.path.join(ROOT, "tests", "data", "previous_main")


def _expected():
    with np.load(os.path.join(OLD, "expected.npz")) as z:
        batch = {k[3:]: z[k] for k in z.files if k.startswith("in_")}
        out = {k[4:]: z[k] for k in z.files if k.startswith("out_")}
    return batch, out


def test_a_run_folder_of_the_previous_main_loads_and_embeds_the_same():
    from hse_tf.training.runs import load_run
    cfg, vocab, model, ckpt = load_run(os.path.join(OLD, "run"))
    assert "model_config" not in cfg and ckpt.endswith("ckpt-0001")
    batch, expected = _expected()
    got = model(batch)
    assert set(got) == set(expected)
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], atol=1e-5)


def test_a_new_run_is_rebuilt_from_its_model_config(trained_run):
    """The trainer saves model.get_config() in run_config.json; load_run rebuilds the model
    with from_config, so a flag changed in the file afterwards does not change the model."""
    from hse_tf.training.runs import load_run
    with open(os.path.join(trained_run, "run_config.json")) as f:
        cfg = json.load(f)
    assert cfg["model_config"]["hidden"] == cfg["hidden"] == 8
    assert cfg["model_config"]["loss"]["tau_high"] == cfg["tau_high"]
    _, _, model, _ = load_run(trained_run)
    assert model.get_config()["hidden"] == 8
    assert model.video_tower.hidden == 8


def test_an_index_of_the_previous_main_loads_verifies_and_searches():
    from hse_tf.index import GalleryIndex
    from hse_tf.index.gallery_index import verify
    index = GalleryIndex.load(os.path.join(OLD, "index"))
    assert verify(os.path.join(OLD, "index"))
    vectors = np.load(os.path.join(OLD, "index_vectors.npy"))
    assert index.ids == [f"v{i}" for i in range(10)] and index.kind == "exact"
    scores, rows = index.search(vectors[[3, 7]], 1)
    assert [int(r[0]) for r in rows] == [3, 7]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
