"""t-SNE and the figure writers."""

import numpy as np

from hse_tf.viz.figures import retrieval_report, tsne_png
from hse_tf.viz.tsne import tsne


def test_tsne_keeps_separate_clusters_apart():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(30, 10)), rng.normal(size=(30, 10)) + 8.0])
    y = tsne(x, perplexity=10, iterations=300, seed=0)
    assert y.shape == (60, 2) and np.all(np.isfinite(y))
    # Every point's nearest neighbour in the map comes from its own cluster.
    d = np.sum((y[:, None] - y[None]) ** 2, -1) + np.eye(60) * 1e9
    nn = d.argmin(1)
    assert np.all((nn < 30) == (np.arange(60) < 30))
    np.testing.assert_array_equal(y, tsne(x, perplexity=10, iterations=300, seed=0))  # seeded


def test_png_and_html_report(tmp_path):
    png = tsne_png(np.random.default_rng(0).normal(size=(6, 2)), list("aabbcc"),
                   str(tmp_path / "t.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # Query 0: its video ranks first. Query 1: video 0 first, its own video second.
    sims = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1]])
    stats = retrieval_report(["a man <surfs>", "a dog"], ["v0", "v1", "v2"], sims,
                             str(tmp_path / "r.html"), k=2, first_sentences=["x", "y", "z"])
    assert stats == {"queries": 2, "top1": 1, "top2": 2}
    page = open(tmp_path / "r.html").read()
    assert "a man &lt;surfs&gt;" in page and "ground truth at rank 2" in page
