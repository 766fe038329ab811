"""tf.data input pipeline: batches of videos with their clips, frames, sentences and words.

A batch is a dict of dense tensors (variable length at every level, as values + lengths):
  frames [F, D], frame_lengths [M], clip_counts [B]      clips of each video
  flat_frames [G, D], flat_lengths [B]                    whole videos (flat branch / FSE)
  words [W], word_lengths [M'], sentence_counts [B]       sentences of each paragraph
  index [B]                                               position of each video in the split
Dense components (not RaggedTensors) because Keras 3 layers reject ragged inputs; the model turns
them into padded tensors where a GRU needs them.
"""

import queue
import threading

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
    a resumed run sees the same order as an uninterrupted one. The trainer sets `epoch`.

    With `lengths` (one sort key per video, e.g. its paragraph's word count), batches are
    bucketed (`bucketed_order`): each window of `window` batches of the shuffled order is sorted
    by length and cut into batches, and all batches are then drawn in random order. Every epoch
    is still a permutation of all videos; a batch holds videos of similar length, so the GRUs
    run fewer padded steps.
    """

    def __init__(self, n, shuffle, seed, lengths=None, batch_size=None, window=50):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.batch_size, self.window = batch_size, window
        if self.lengths is not None and (len(self.lengths) != n or not batch_size):
            raise ValueError("bucketing needs one length per video and a batch size")
        self.epoch = 0

    def at(self, epoch):
        """This order as of `epoch` (a copy)."""
        other = EpochOrder(self.n, self.shuffle, self.seed, self.lengths, self.batch_size,
                           self.window)
        other.epoch = epoch
        return other

    def order(self):
        if not self.shuffle:
            return np.arange(self.n)
        rng = np.random.default_rng([self.seed, self.epoch])
        perm = rng.permutation(self.n)
        if self.lengths is None or not self.window:
            return perm
        return bucketed_order(perm, self.lengths, self.batch_size, self.window, rng)


def bucketed_order(perm, lengths, batch_size, window, rng):
    """`perm` regrouped into batches of similar `lengths`: windows of `window` batches, each
    sorted by length (ties keep the random order) and cut into batches of `batch_size`; the
    full batches are then shuffled, and a final partial batch (if any) stays last, so that
    consecutive chunks of `batch_size` are exactly these batches."""
    full, partial = [], []
    span = window * batch_size
    for start in range(0, len(perm), span):
        chunk = perm[start:start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        for b in range(0, len(chunk), batch_size):
            (full if len(chunk[b:b + batch_size]) == batch_size else partial).append(
                chunk[b:b + batch_size])
    rng.shuffle(full)  # only the last window can leave a partial batch: at most one
    return np.concatenate(full + partial) if full or partial else perm


def reuse_freed_memory(keep_mb=256):
    """Lets glibc keep up to `keep_mb` of freed memory for reuse (Linux/glibc only; a no-op
    elsewhere). TensorFlow's generator dataset sets M_TRIM_THRESHOLD to 128 KB ("Memory patch
    applied"), so a batch's arrays (tens of MB) go back to the OS when freed and the next batch
    page-faults them in again; bench/input_pipeline.py measured that this halves the reader's
    speed. The retained memory is bounded by `keep_mb`: it does not grow with the dataset.
    Called at the start of every pass, after TensorFlow has made its setting."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_trim_threshold, keep_mb << 20)
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest; below it, the heap is reused


def batches(video_dataset, batch_size, order, drop_remainder=False, shard=(0, 1),
            with_ranges=False, part=(0, 1)):
    """Python generator of collated batches (skipped videos are left out of their batch).

    `shard` = (i, n): this input pipeline takes every n-th video of the epoch's order, from i
    (one pipeline per replica under tf.distribute). `part` = (j, k): only batches j, j + k,
    j + 2k, ... of them (k readers in parallel; interleaved round-robin they give the same
    sequence as one reader).
    """
    reuse_freed_memory()  # after TensorFlow's own setting, which it makes for this dataset
    idx = order.order() if isinstance(order, EpochOrder) else np.asarray(order)
    idx = idx[:len(idx) - len(idx) % shard[1]][shard[0]::shard[1]]  # equal shards
    stop = len(idx) - (len(idx) % batch_size if drop_remainder else 0)
    for start in range(part[0] * batch_size, stop, part[1] * batch_size):
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
                 feature_dim=None, prefetch=2, shard=(0, 1), order=None, epochs=None,
                 readers=1):
    """tf.data.Dataset of batch dicts streamed from the feature store; returns (dataset, order).

    The returned EpochOrder's `epoch` picks the shuffle of the next pass over the dataset.
    With `epochs=(first, stop)` the dataset instead runs through those epochs back to back, each
    with its own shuffle (for trainers that iterate one dataset across epochs, as Keras does
    under tf.distribute); the epoch is then data in the pipeline, not shared state.
    `readers` Python readers make batches in parallel threads (the same batches, in the same
    order, as one reader).
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
    def parallel(make):
        """`readers` generators, each making every readers-th batch, interleaved round-robin:
        the batches of one reader, in the same order, made in parallel threads."""
        if readers == 1:
            return make(0)
        return tf.data.Dataset.range(readers).interleave(
            make, cycle_length=readers, block_length=1, num_parallel_calls=readers,
            deterministic=True)

    if epochs is not None:
        def one_epoch(e):
            return parallel(lambda j: tf.data.Dataset.from_generator(
                lambda e, j: batches(video_dataset, batch_size, order.at(int(e)), drop, shard,
                                     part=(int(j), readers)),
                args=(e, j), output_signature=signature))
        ds = tf.data.Dataset.range(*epochs).flat_map(one_epoch)
        return ds.prefetch(prefetch), order
    ds = parallel(lambda j: tf.data.Dataset.from_generator(
        lambda j: batches(video_dataset, batch_size, order, drop, shard, part=(int(j), readers)),
        args=(j,), output_signature=signature))
    n_batches = n_shard // batch_size if drop else -(-n_shard // batch_size)
    if video_dataset.issues.policy == "error":
        # Skipping can shorten an epoch, so only a no-skip pipeline promises its length.
        ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return ds.prefetch(prefetch), order


def prefetch(iterator, depth=2):
    """Runs `iterator` in a thread, `depth` items ahead (reading or decoding overlaps inference);
    its exceptions reach the caller."""
    q = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as e:  # handed to the consumer
            q.put((None, e))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
