"""t-SNE and the figure writers."""

import numpy as np

from hse_tf.viz.figures import retrieval_report, tsne_png
from hse_tf.viz.tsne import knn_accuracy, tsne


def test_tsne_keeps_separate_clusters_apart():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(30, 10)), rng.normal(size=(30, 10)) + 8.0])
    labels = np.repeat([0, 1], 30)
    y = tsne(x, perplexity=10, seed=0)
    assert y.shape == (60, 2) and np.all(np.isfinite(y))
    # Two clusters 8 apart in every coordinate (about 25 apart, each about 4.5 wide): the map must
    # keep them apart. A robust property (k-NN accuracy), not exact coordinates, which depend on
    # the CPU's float paths.
    assert knn_accuracy(y, labels) >= 0.95
    assert knn_accuracy(x, labels) == 1.0
    # Seeded: a rerun gives the same map up to float noise.
    np.testing.assert_allclose(y, tsne(x, perplexity=10, seed=0), atol=1e-3)


def test_knn_accuracy_by_hand():
    # Points on a line: 0, 1, 2 are class a; 10, 11 class b; 3.4 is class b but sits by the a's.
    # k=1, each point's nearest other point: 0->1 (a, hit), 1->0 or 2 (both a, hit), 2->1
    # (distance 1 < 1.4: a, hit), 3.4->2 (a: miss), 10->11 (hit), 11->10 (hit). 5 hits of 6.
    pts = np.array([[0.0], [1.0], [2.0], [3.4], [10.0], [11.0]])
    labels = ["a", "a", "a", "b", "b", "b"]
    assert knn_accuracy(pts, labels, k=1) == 5 / 6


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
