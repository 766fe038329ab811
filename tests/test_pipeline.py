import numpy as np

from hse_tf.data import annotations as A
from hse_tf.data.features import open_features
from hse_tf.data.pipeline import make_dataset
from hse_tf.data.video_dataset import VideoDataset
from hse_tf.data.vocabulary import Vocabulary


def _split(paths):
    anns = A.read_activitynet_captions(paths["train"])
    vocab = Vocabulary.build([s for a in anns for s in a.sentences])
    return VideoDataset(anns, open_features("c3d_hdf5", paths["features"]), vocab), vocab


def test_batch_structure_matches_annotations(tiny_demo):
    split, vocab = _split(tiny_demo)
    ds, _ = make_dataset(split, 5)
    batch = {k: v.numpy() for k, v in next(iter(ds)).items()}
    assert list(batch["index"]) == [0, 1, 2, 3, 4]
    n_sent = [len(split.annotations[i].sentences) for i in range(5)]
    assert list(batch["clip_counts"]) == n_sent == list(batch["sentence_counts"])
    assert batch["frames"].shape == (batch["frame_lengths"].sum(), 8)
    assert batch["words"].shape == (batch["word_lengths"].sum(),)
    assert batch["flat_frames"].shape[0] == batch["flat_lengths"].sum()
    assert batch["frame_lengths"].max() <= 80 and batch["flat_lengths"].max() <= 80
    first = split.annotations[0].sentences[0]
    np.testing.assert_array_equal(batch["words"][:batch["word_lengths"][0]], vocab.ids(first))


def _epoch_indices(ds):
    return np.concatenate([b["index"].numpy() for b in ds])


def test_shuffle_is_seeded_per_epoch(tiny_demo):
    split, _ = _split(tiny_demo)
    ds1, order1 = make_dataset(split, 8, shuffle=True, seed=3, drop_remainder=True)
    ds2, order2 = make_dataset(split, 8, shuffle=True, seed=3, drop_remainder=True)
    e0 = _epoch_indices(ds1)
    np.testing.assert_array_equal(e0, _epoch_indices(ds2))  # same seed, same order
    order1.epoch = 1
    e1 = _epoch_indices(ds1)
    assert not np.array_equal(e0, e1) and sorted(e0) == sorted(e1) == list(range(48))
    ds3, _ = make_dataset(split, 8, shuffle=True, seed=4, drop_remainder=True)
    assert not np.array_equal(e0, _epoch_indices(ds3))


def test_shards_partition_the_epoch(tiny_demo):
    split, _ = _split(tiny_demo)
    _, order = make_dataset(split, 4, shuffle=True, seed=0)
    parts = [_epoch_indices(make_dataset(split, 4, shard=(i, 2), order=order)[0]) for i in (0, 1)]
    assert not set(parts[0]) & set(parts[1]) and len(parts[0]) == len(parts[1]) == 24


def test_multi_epoch_dataset_runs_each_epochs_shuffle(tiny_demo):
    # epochs=(1, 3): epochs 1 and 2 back to back, each exactly as the per-epoch dataset gives it.
    split, _ = _split(tiny_demo)
    ds, order = make_dataset(split, 8, shuffle=True, seed=3, drop_remainder=True, epochs=(1, 3))
    both = _epoch_indices(ds)
    single, single_order = make_dataset(split, 8, shuffle=True, seed=3, drop_remainder=True)
    expected = []
    for e in (1, 2):
        single_order.epoch = e
        expected.append(_epoch_indices(single))
    np.testing.assert_array_equal(both, np.concatenate(expected))
    assert not np.array_equal(expected[0], expected[1])


def test_bucketed_epochs_are_random_permutations_of_similar_length_batches():
    from hse_tf.data.pipeline import EpochOrder
    rng = np.random.default_rng(0)
    n, batch = 1003, 16
    lengths = rng.integers(5, 300, size=n)
    bucketed = EpochOrder(n, True, seed=3, lengths=lengths, batch_size=batch, window=10)
    plain = EpochOrder(n, True, seed=3)
    orders = []
    for epoch in range(4):
        bucketed.epoch = plain.epoch = epoch
        order = bucketed.order()
        assert sorted(order.tolist()) == list(range(n))  # every video exactly once
        np.testing.assert_array_equal(bucketed.at(epoch).order(), order)  # resumable
        chunks = [order[i:i + batch] for i in range(0, n - n % batch, batch)]
        # Each batch is one sorted slice of a window: non-decreasing lengths.
        assert all(np.all(np.diff(lengths[c]) >= 0) for c in chunks)
        spread = np.mean([np.ptp(lengths[c]) for c in chunks])
        p = plain.order()
        plain_spread = np.mean([np.ptp(lengths[p[i:i + batch]])
                                for i in range(0, n - n % batch, batch)])
        assert spread < 0.25 * plain_spread  # similar lengths within a batch
        # ... but batches come in random order, not from short to long.
        means = [lengths[c].mean() for c in chunks]
        assert abs(np.corrcoef(np.arange(len(means)), means)[0, 1]) < 0.35
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])  # a new shuffle every epoch


def test_parallel_readers_give_the_same_batches(tiny_demo):
    split, _ = _split(tiny_demo)
    one, order = make_dataset(split, 6, shuffle=True, seed=1, readers=1)
    two, _ = make_dataset(split, 6, shuffle=True, seed=1, readers=3, order=order)
    a, b = list(one), list(two)
    assert len(a) == len(b) == -(-len(split) // 6)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k].numpy(), y[k].numpy())
