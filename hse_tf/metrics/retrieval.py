"""Retrieval metric maths: similarity matrix + ground truth in, ranks and recalls out. No I/O.

Ties are ranked pessimistically: rank = number of gallery items scoring >= the true item (itself
included), so a degenerate model whose scores are all equal gets the worst rank, never the best.
Non-finite embeddings or scores (a diverged model) are refused with NonFiniteError: NaN compares
false with everything, and would otherwise rank every query first.
"""

import numpy as np


class NonFiniteError(ValueError):
    """Embeddings or similarities with NaN or Inf values: no rank can be computed from them."""


def check_finite(x, what):
    """Raises NonFiniteError naming `what` (and the first bad row) unless every value is finite."""
    x = np.asarray(x)
    if x.size and not np.all(np.isfinite(x)):
        row = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise NonFiniteError(f"{what}: NaN or Inf values (first in row {row} of {len(x)}); the "
                             f"model diverged or its input is bad, so no retrieval metric is "
                             f"computed")
    return x


def ranks_from_similarity(sim, ground_truth=None):
    """sim [Q, G]; ground_truth [Q] gallery index of each query's true item (default: diagonal).

    Returns int ranks [Q], 1-based.
    """
    sim = np.asarray(sim)
    if sim.ndim != 2:
        raise ValueError(f"similarity matrix must be 2-D, got shape {sim.shape}")
    check_finite(sim, "similarity matrix")
    q = sim.shape[0]
    gt = np.arange(q) if ground_truth is None else np.asarray(ground_truth)
    if gt.shape != (q,):
        raise ValueError(f"ground truth must have shape ({q},), got {gt.shape}")
    if q and (gt.min() < 0 or gt.max() >= sim.shape[1]):
        raise ValueError("ground-truth index out of the gallery's range")
    true = sim[np.arange(q), gt]
    return (sim >= true[:, None]).sum(axis=1)


def chunked_ranks(queries, gallery, ground_truth=None, chunk=1024):
    """Ranks for queries [Q, D] against gallery [G, D] (dot products, i.e. cosine when both are
    L2-normalised), a chunk of queries at a time so a 17k x 17k matrix never sits in memory."""
    q = len(queries)
    check_finite(queries, "query embeddings")
    check_finite(gallery, "gallery embeddings")
    gt = np.arange(q) if ground_truth is None else np.asarray(ground_truth)
    out = np.empty(q, np.int64)
    for s in range(0, q, chunk):
        sim = queries[s:s + chunk] @ gallery.T
        out[s:s + chunk] = ranks_from_similarity(sim, gt[s:s + chunk])
    return out


def group_ranks(queries, gallery, query_groups, gallery_groups, chunk=1024):
    """Ranks when several gallery items are correct for a query: gallery item g is correct for
    query q when gallery_groups[g] == query_groups[q] (e.g. DiDeMo clips of the identical segment
    in the same video, which are identical clips). rank = 1 + number of WRONG gallery items
    scoring >= the best correct one (ties still pessimistic). With one correct item per query
    this equals `chunked_ranks`."""
    qg = np.asarray(query_groups)
    gg = np.asarray(gallery_groups)
    if qg.shape != (len(queries),) or gg.shape != (len(gallery),):
        raise ValueError(f"groups must have shapes ({len(queries)},) and ({len(gallery)},), got "
                         f"{qg.shape} and {gg.shape}")
    if not np.isin(qg, gg).all():
        raise ValueError("a query's group has no item in the gallery")
    check_finite(queries, "query embeddings")
    check_finite(gallery, "gallery embeddings")
    out = np.empty(len(queries), np.int64)
    for s in range(0, len(queries), chunk):
        sim = queries[s:s + chunk] @ gallery.T
        correct = qg[s:s + chunk, None] == gg[None]
        best = np.where(correct, sim, -np.inf).max(axis=1)
        out[s:s + chunk] = 1 + ((sim >= best[:, None]) & ~correct).sum(axis=1)
    return out


def recall_metrics(ranks, ks=(1, 5, 50)):
    """{'R@k': percent of queries with rank <= k, 'MR': median rank, 'MnR': mean rank}."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no queries")
    out = {f"R@{k}": float(100.0 * np.mean(ranks <= k)) for k in ks}
    out["MR"] = float(np.median(ranks))
    out["MnR"] = float(np.mean(ranks))
    return out


def bidirectional_retrieval(video, text, ks=(1, 5, 50), chunk=1024):
    """Paragraph->video and video->paragraph metrics for paired rows of video [N, H], text [N, H]."""
    video = np.asarray(video, np.float32)
    text = np.asarray(text, np.float32)
    if video.shape != text.shape:
        raise ValueError(f"video {video.shape} and text {text.shape} embeddings must pair up")
    return {"p2v": recall_metrics(chunked_ranks(text, video, chunk=chunk), ks),
            "v2p": recall_metrics(chunked_ranks(video, text, chunk=chunk), ks)}
