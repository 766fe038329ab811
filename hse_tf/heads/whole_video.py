"""Frozen whole-video embeddings: the clip encoder over the whole video (80 subsampled frames),
the representation the paper's action-recognition experiments use."""

import numpy as np
import tensorflow as tf

from hse_tf.data import clips as clip_rules
from hse_tf.data.errors import DataError
from hse_tf.data.options import EVAL_BATCH_SIZE
from hse_tf.layers.ragged import pad_rows
from hse_tf.losses.ranking import l2_normalize


def embed_whole_videos(model, store, video_ids, issues, batch_size=EVAL_BATCH_SIZE,
                       max_frames=clip_rules.MAX_FRAMES):
    """-> (ids kept, [N, H] L2-normalised embeddings). Videos whose features are missing or bad
    raise a DataError or are skipped and counted, per `issues.policy`."""
    encoder = model.video_tower.clip_encoder

    @tf.function(reduce_retracing=True)
    def encode(values, lengths):
        return l2_normalize(encoder(pad_rows(values, lengths), lengths))

    kept, out = [], []
    for start in range(0, len(video_ids), batch_size):
        frames, lengths = [], []
        for vid in video_ids[start:start + batch_size]:
            try:
                x = store.get(vid)
            except DataError as e:
                issues.bad("bad_features", e)
                continue
            idx = clip_rules.subsample_indices(0, len(x) - 1, max_frames)
            frames.append(x[idx])
            lengths.append(len(idx))
            kept.append(vid)
        if frames:
            out.append(encode(np.concatenate(frames), np.asarray(lengths, np.int32)).numpy())
    if not out:
        raise ValueError("no video could be embedded")
    return kept, np.concatenate(out)


def topk_accuracy(scores, labels, ks=(1, 5)):
    """scores [N, C], labels: list of sets of correct class indices -> {'top1': %, 'top5': %}.
    A video counts as correct at k when any of its labels is among its k best classes."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        top = order[:, :k]
        hits = [bool(set(t.tolist()) & lab) for t, lab in zip(top, labels)]
        out[f"top{k}"] = 100.0 * float(np.mean(hits))
    return out
