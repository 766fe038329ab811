"""Evaluation jobs over a whole split: embedding, retrieval, incomplete observation, proposals.

The metric maths live in hse_tf.metrics; this module only embeds data and feeds it to them.
"""

import numpy as np
import tensorflow as tf

from hse_tf.data import clips as clip_rules
from hse_tf.data.pipeline import batch_signature, batches, prefetch
from hse_tf.metrics import bidirectional_retrieval, group_ranks, recall_metrics


def embed_fn(model, feature_dim):
    """A traced embedding function with a shape-polymorphic signature (no retracing)."""
    return tf.function(lambda batch: model(batch, training=False),
                       input_signature=[batch_signature(feature_dim)], reduce_retracing=True)


def embed_split(model, video_dataset, batch_size=64, fn=None, feature_dim=None):
    """Embeds every video/paragraph of a split, in order. Returns a dict of numpy arrays:
    video, paragraph [N, H]; clips, sentences [M, H] (HSE); index [N] (split positions kept);
    clip_groups [M]: clips with the same number are identical (same video, same frame range).

    Videos are embedded longest paragraph first, so that a batch's rows have similar lengths
    (fewer sequential GRU steps per batch), then put back in split order. Batches are read one
    thread ahead of the model.
    """
    if fn is None:
        fn = embed_fn(model, feature_dim or video_dataset.features(0).shape[1])
    parts = {}
    keys = {}
    words = [sum(len(s) for s in w) for w in video_dataset.word_ids]
    order = np.argsort(-np.asarray(words, np.int64), kind="stable")
    # The next batches are read in a thread while the model embeds this one.
    for batch in prefetch(batches(video_dataset, batch_size, order, with_ranges=True)):
        ranges = batch.pop("clip_ranges")
        out = fn(batch)
        out = {k: v.numpy() for k, v in out.items()}
        out["index"] = batch["index"]
        clip_video = np.repeat(batch["index"], batch["clip_counts"])
        out["clip_groups"] = np.asarray(
            [keys.setdefault((int(v), int(s), int(e)), len(keys))
             for v, (s, e) in zip(clip_video, ranges)], np.int64)
        out["clip_video"] = clip_video
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    if not parts:
        return {}
    out = {k: np.concatenate(v) for k, v in parts.items()}
    videos = np.argsort(out["index"], kind="stable")
    clips = np.argsort(out.pop("clip_video"), kind="stable")  # a video's clips keep their order
    per_clip = ("clips", "sentences", "clip_groups")
    return {k: v[clips] if k in per_clip else v[videos] for k, v in out.items()}


def retrieval(emb):
    """Video<->paragraph metrics, plus clip<->sentence when the model has clips."""
    out = bidirectional_retrieval(emb["video"], emb["paragraph"])
    if "clips" in emb and len(emb["clips"]) == len(emb["sentences"]):
        # Sentence i belongs with clip i, and with every clip identical to it (DiDeMo: sentences
        # sharing a segment of the same video); see metrics.group_ranks.
        groups = emb.get("clip_groups", np.arange(len(emb["clips"])))
        out["sentence2clip"] = recall_metrics(group_ranks(emb["sentences"], emb["clips"],
                                                          groups, groups))
        out["clip2sentence"] = recall_metrics(group_ranks(emb["clips"], emb["sentences"],
                                                          groups, groups))
    return out


def incomplete_observation(model, video_dataset, max_k=5, batch_size=64, fn=None):
    """Fig. 4: retrieval when only the first k clips and sentences are embedded, k = 1..max_k."""
    return {k: bidirectional_retrieval(**_pair(embed_split(
        model, video_dataset.view(max_clips=k), batch_size, fn)))
        for k in range(1, max_k + 1)}


def uniform_proposals(model, video_dataset, ks=(1, 2, 3, 4), batch_size=64, fn=None):
    """Table 4: clips replaced by K uniform segments; retrieval plus the proposals' precision and
    recall against the ground-truth segments at tIoU >= 0.5."""
    out = {}
    for k in ks:
        emb = embed_split(model, video_dataset.view(proposals=k), batch_size, fn)
        precision, recall = _proposal_quality(video_dataset, k, emb["index"])
        out[k] = {**bidirectional_retrieval(**_pair(emb)), "precision": 100 * precision,
                  "recall": 100 * recall}
    return out


def _pair(emb):
    return {"video": emb["video"], "text": emb["paragraph"]}


def _proposal_quality(video_dataset, k, kept):
    """Mean proposal precision / recall over the videos that were embedded (`kept`: split
    positions; videos skipped for bad features do not count)."""
    ps, rs = [], []
    for i in kept:
        ann = video_dataset.annotations[int(i)]
        if ann.unit == "frames":
            span = float(ann.feature_length or max(e for _, e in ann.segments) + 1)
            gt = [(s, e + 1) for s, e in ann.segments]
        else:
            span, gt = ann.duration, [(min(s, e), max(s, e)) for s, e in ann.segments]
        props = clip_rules.uniform_time_segments(span, k)
        p, r = clip_rules.proposal_precision_recall(props, gt, 0.5)
        ps.append(p)
        rs.append(r)
    return float(np.mean(ps)), float(np.mean(rs))


def format_table(results, title=""):
    """Printable table of {'p2v': {...}, 'v2p': {...}, ...} metrics."""
    lines = [title] if title else []
    lines.append(f"{'direction':<15}{'R@1':>7}{'R@5':>7}{'R@50':>7}{'MR':>7}")
    for name, m in results.items():
        if isinstance(m, dict) and "R@1" in m:
            lines.append(f"{name:<15}{m['R@1']:>7.1f}{m['R@5']:>7.1f}{m['R@50']:>7.1f}"
                         f"{m['MR']:>7.1f}")
    return "\n".join(lines)
