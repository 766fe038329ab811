"""Embedding a whole split with a model, in order, one batch read ahead."""

import numpy as np
import tensorflow as tf

from hse_tf.data.options import EVAL_BATCH_SIZE
from hse_tf.data.pipeline import batch_signature, batches, prefetch


def embed_fn(model, feature_dim):
    """A traced embedding function with a shape-polymorphic signature (no retracing)."""
    return tf.function(lambda batch: model(batch, training=False),
                       input_signature=[batch_signature(feature_dim)], reduce_retracing=True)


def embed_split(model, video_dataset, batch_size=EVAL_BATCH_SIZE, fn=None, feature_dim=None):
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
        # Sentences are ordered on their own: with uniform proposals a video has K clips but
        # as many sentences as its paragraph, so the two lists do not pair up.
        out["sentence_video"] = np.repeat(batch["index"], batch["sentence_counts"])
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    if not parts:
        return {}
    out = {k: np.concatenate(v) for k, v in parts.items()}
    videos = np.argsort(out["index"], kind="stable")
    # A video's clips (sentences) keep their order.
    clips = np.argsort(out.pop("clip_video"), kind="stable")
    sentences = np.argsort(out.pop("sentence_video"), kind="stable")
    order = {"clips": clips, "clip_groups": clips, "sentences": sentences}
    return {k: v[order.get(k, videos)] for k, v in out.items()}
