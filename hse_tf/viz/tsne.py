"""Exact t-SNE in numpy (van der Maaten & Hinton 2008), for up to a few thousand points.

Small and dependency-free on purpose: O(N^2) memory and time, seeded, deterministic.
"""

import numpy as np


def _affinities(x, perplexity, tol=1e-5, steps=50):
    """Symmetric P from Gaussian conditionals whose entropy matches log(perplexity)."""
    n = len(x)
    d = np.sum(x * x, 1)[:, None] + np.sum(x * x, 1)[None] - 2 * x @ x.T
    np.fill_diagonal(d, 0.0)
    d = np.maximum(d, 0.0)
    p = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):
        lo, hi, beta = 0.0, np.inf, 1.0
        di = np.delete(d[i], i)
        for _ in range(steps):
            w = np.exp(-(di - di.min()) * beta)
            s = w.sum()
            h = np.log(s) + beta * np.sum((di - di.min()) * w) / s
            if abs(h - target) < tol:
                break
            if h > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = w / s
    p = (p + p.T) / (2 * n)
    return np.maximum(p, 1e-12)


def tsne(x, dims=2, perplexity=30.0, iterations=500, learning_rate=200.0, seed=0):
    """[N, D] -> [N, dims] embedding."""
    x = np.asarray(x, np.float64)
    n = len(x)
    perplexity = min(perplexity, (n - 1) / 3)
    p = _affinities(x, perplexity) * 4.0  # early exaggeration
    rng = np.random.default_rng(seed)
    y = rng.normal(scale=1e-4, size=(n, dims))
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    for it in range(iterations):
        if it == 100:
            p /= 4.0
        sq = np.sum(y * y, 1)
        num = 1.0 / (1.0 + sq[:, None] + sq[None] - 2 * y @ y.T)
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        pq = (p - q) * num
        grad = 4.0 * ((np.diag(pq.sum(1)) - pq) @ y)
        momentum = 0.5 if it < 250 else 0.8
        gains = np.where(np.sign(grad) != np.sign(velocity), gains + 0.2, gains * 0.8)
        gains = np.maximum(gains, 0.01)
        velocity = momentum * velocity - learning_rate * gains * grad
        y = y + velocity
        y -= y.mean(0)
    return y
