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
