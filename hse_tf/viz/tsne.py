"""t-SNE maps of embeddings (scikit-learn's `TSNE`) and a number that says whether a map keeps
the classes: leave-one-out k-nearest-neighbour accuracy, in the map and in the embedding space."""

import numpy as np


def tsne(x, dims=2, perplexity=30.0, seed=0):
    """[N, D] -> [N, dims] with scikit-learn's Barnes-Hut t-SNE (PCA init, seeded).

    Cosine distances, since the embeddings are compared by cosine everywhere else.
    """
    from sklearn.manifold import TSNE
    x = np.asarray(x, np.float32)
    n = len(x)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {n}")
    perplexity = float(min(perplexity, (n - 1) / 3))
    return TSNE(n_components=dims, perplexity=perplexity, init="pca", metric="cosine",
                random_state=seed, learning_rate="auto").fit_transform(x)


def knn_accuracy(points, labels, k=5, metric="euclidean"):
    """Leave-one-out k-NN accuracy of `labels` (a point's class is the majority of its k
    nearest other points). Near 1 when classes form separate groups; near the majority-class
    share when the geometry ignores them."""
    from sklearn.neighbors import KNeighborsClassifier
    points = np.asarray(points)
    labels = np.asarray(labels)
    k = min(k, len(points) - 1)
    if k < 1:
        raise ValueError("k-NN accuracy needs at least 2 points")
    clf = KNeighborsClassifier(n_neighbors=k + 1, metric=metric).fit(points, labels)
    # The k + 1 nearest neighbours include the point itself: drop it (leave-one-out).
    idx = clf.kneighbors(points, return_distance=False)
    hits = 0
    for i, row in enumerate(idx):
        others = [j for j in row if j != i][:k]
        values, counts = np.unique(labels[others], return_counts=True)
        hits += values[np.argmax(counts)] == labels[i]
    return hits / len(points)
