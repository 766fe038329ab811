"""tf.data input pipeline: batches of videos with their clips, frames, sentences and words.

A batch is a dict of dense tensors (variable length at every level, as values + lengths):
  frames [F, D], frame_lengths [M], clip_counts [B]      clips of each video
  flat_frames [G, D], flat_lengths [B]                    whole videos (flat branch / FSE)
  words [W], word_lengths [M'], sentence_counts [B]       sentences of each paragraph
  index [B]                                               position of each video in the split
Dense components (not RaggedTensors) because Keras 3 layers reject ragged inputs; the model turns
them into padded tensors where a GRU needs them.
"""

import numpy as np
import tensorflow as tf


def batch_signature(feature_dim):
    i32 = tf.int32
    return {
        "frames": tf.TensorSpec([None, feature_dim], tf.float32),
        "frame_lengths": tf.TensorSpec([None], i32),
        "clip_counts": tf.TensorSpec([None], i32),
        "flat_frames": tf.TensorSpec([None, feature_dim], tf.float32),
        "flat_lengths": tf.TensorSpec([None], i32),
        "words": tf.TensorSpec([None], i32),
        "word_lengths": tf.TensorSpec([None], i32),
        "sentence_counts": tf.TensorSpec([None], i32),
        "index": tf.TensorSpec([None], i32),
    }


def collate(examples, indices, with_ranges=False):
    """Stacks VideoExamples into one batch dict of numpy arrays (with_ranges: also each clip's
    inclusive frame range, 'clip_ranges' [M, 2], which is not a model input)."""
    out = {
        "frames": np.concatenate([e.frames for e in examples]),
        "frame_lengths": np.concatenate([e.frame_lengths for e in examples]),
        "clip_counts": np.asarray([len(e.frame_lengths) for e in examples], np.int32),
        "flat_frames": np.concatenate([e.flat_frames for e in examples]),
        "flat_lengths": np.asarray([len(e.flat_frames) for e in examples], np.int32),
        "words": np.concatenate([e.words for e in examples]),
        "word_lengths": np.concatenate([e.word_lengths for e in examples]),
        "sentence_counts": np.asarray([len(e.word_lengths) for e in examples], np.int32),
        "index": np.asarray(indices, np.int32),
    }
    if with_ranges:
        out["clip_ranges"] = np.asarray([r for e in examples for r in e.clip_ranges],
                                        np.int64).reshape(-1, 2)
    return out


class EpochOrder:
    """Video order per epoch: a permutation seeded by (seed, epoch), so runs are reproducible and
    a resumed run sees the same order as an uninterrupted one. The trainer sets `epoch`."""

    def __init__(self, n, shuffle, seed):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.epoch = 0

    def at(self, epoch):
        """This order as of `epoch` (a copy)."""
        other = EpochOrder(self.n, self.shuffle, self.seed)
        other.epoch = epoch
        return other

    def order(self):
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)


def batches(video_dataset, batch_size, order, drop_remainder=False, shard=(0, 1),
            with_ranges=False):
    """Python generator of collated batches (skipped videos are left out of their batch).

    `shard` = (i, n): this input pipeline takes every n-th video of the epoch's order, from i
    (one pipeline per replica under tf.distribute).
    """
    idx = order.order() if isinstance(order, EpochOrder) else np.asarray(order)
    idx = idx[:len(idx) - len(idx) % shard[1]][shard[0]::shard[1]]  # equal shards
    stop = len(idx) - (len(idx) % batch_size if drop_remainder else 0)
    for start in range(0, stop, batch_size):
        chunk = idx[start:start + batch_size]
        exs, kept = [], []
        for i in chunk:
            ex = video_dataset.example(int(i))
            if ex is not None:
                exs.append(ex)
                kept.append(int(i))
        if exs:
            yield collate(exs, kept, with_ranges)


def make_dataset(video_dataset, batch_size, shuffle=False, seed=0, drop_remainder=False,
                 feature_dim=None, prefetch=2, shard=(0, 1), order=None, epochs=None):
    """tf.data.Dataset of batch dicts streamed from the feature store; returns (dataset, order).

    The returned EpochOrder's `epoch` picks the shuffle of the next pass over the dataset.
    With `epochs=(first, stop)` the dataset instead runs through those epochs back to back, each
    with its own shuffle (for trainers that iterate one dataset across epochs, as Keras does
    under tf.distribute); the epoch is then data in the pipeline, not shared state.
    """
    n = len(video_dataset)
    if n == 0:
        raise ValueError(f"split '{video_dataset.name}' has no usable videos")
    if feature_dim is None:
        feature_dim = video_dataset.features(0).shape[1]
    order = order or EpochOrder(n, shuffle, seed)
    n_shard = n // shard[1]
    drop = drop_remainder and n_shard >= batch_size
    signature = batch_signature(feature_dim)
    if epochs is not None:
        ds = tf.data.Dataset.range(*epochs).flat_map(
            lambda e: tf.data.Dataset.from_generator(
                lambda e: batches(video_dataset, batch_size, order.at(int(e)), drop, shard),
                args=(e,), output_signature=signature))
        return ds.prefetch(prefetch), order
    ds = tf.data.Dataset.from_generator(
        lambda: batches(video_dataset, batch_size, order, drop, shard),
        output_signature=signature)
    n_batches = n_shard // batch_size if drop else -(-n_shard // batch_size)
    if video_dataset.issues.policy == "error":
        # Skipping can shorten an epoch, so only a no-skip pipeline promises its length.
        ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return ds.prefetch(prefetch), order
