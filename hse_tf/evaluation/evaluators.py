"""Evaluators over a whole split: retrieval, incomplete observation, uniform proposals.

Each evaluator is picked by name from EVALUATORS and has `run(model, split)`, which yields
(name, value) pairs; printing lives in hse_tf.evaluation.tables and the metric maths in
hse_tf.metrics; `retrieval` is the same computation on embeddings already made.
"""

import numpy as np

from hse_tf.data import clips as clip_rules
from hse_tf.data.options import EVAL_BATCH_SIZE, INCOMPLETE_MAX_K, PROPOSAL_COUNTS
from hse_tf.evaluation.embedding import embed_split
from hse_tf.metrics import bidirectional_retrieval, group_ranks, recall_metrics


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


class Retrieval:
    """Paragraph<->video (and clip<->sentence) retrieval over the whole split: yields
    ('p2v', metrics), ('v2p', metrics), ... (hse_tf.metrics.recall_metrics)."""

    name = "retrieval"

    def __init__(self, batch_size=EVAL_BATCH_SIZE):
        self.batch_size = batch_size

    def run(self, model, split, fn=None):
        yield from retrieval(embed_split(model, split, self.batch_size, fn)).items()


class IncompleteObservation:
    """Fig. 4: yields (k, metrics) for k = 1..max_k first clips and sentences (HSE only)."""

    name = "incomplete_observation"

    def __init__(self, max_k=INCOMPLETE_MAX_K, batch_size=EVAL_BATCH_SIZE):
        self.max_k, self.batch_size = max_k, batch_size

    def run(self, model, split, fn=None):
        for k in range(1, self.max_k + 1):
            emb = embed_split(model, split.view(max_clips=k), self.batch_size, fn)
            yield k, bidirectional_retrieval(**_pair(emb))


class UniformProposals:
    """Table 4: yields (K, metrics + the proposals' precision and recall at tIoU >= 0.5) for
    each K of `ks` uniform segments per video (HSE only)."""

    name = "uniform_proposals"

    def __init__(self, ks=PROPOSAL_COUNTS, batch_size=EVAL_BATCH_SIZE):
        self.ks, self.batch_size = tuple(ks), batch_size

    def run(self, model, split, fn=None):
        for k in self.ks:
            emb = embed_split(model, split.view(proposals=k), self.batch_size, fn)
            precision, recall = _proposal_quality(split, k, emb["index"])
            yield k, {**bidirectional_retrieval(**_pair(emb)), "precision": 100 * precision,
                      "recall": 100 * recall}


# The evaluators by name: the only list of them (python -m hse_tf.evaluate runs these).
EVALUATORS = {e.name: e for e in (Retrieval, IncompleteObservation, UniformProposals)}
