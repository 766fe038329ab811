"""Evaluation jobs over a split (hse_tf.evaluation)."""

import numpy as np
import tensorflow as tf


def test_embed_split_returns_split_order(exported):
    """embed_split embeds longest paragraphs first; its rows still come back in split order:
    each video's row and its clips' rows equal the model's output on that video alone."""
    from hse_tf.data.pipeline import collate
    from hse_tf.evaluation import embed_split
    model, split = exported["model"], exported["split"]
    words = [sum(len(s) for s in w) for w in split.word_ids]
    assert np.argsort(-np.asarray(words), kind="stable").tolist() != list(range(len(split)))
    emb = embed_split(model, split, batch_size=3)
    assert emb["index"].tolist() == list(range(len(split)))
    start = 0
    for i in range(len(split)):
        alone = model({k: tf.constant(v) for k, v in collate([split.example(i)], [i]).items()})
        n = alone["clips"].shape[0]
        np.testing.assert_allclose(emb["video"][i], alone["video"][0], atol=1e-5)
        np.testing.assert_allclose(emb["paragraph"][i], alone["paragraph"][0], atol=1e-5)
        np.testing.assert_allclose(emb["clips"][start:start + n], alone["clips"], atol=1e-5)
        np.testing.assert_allclose(emb["sentences"][start:start + n], alone["sentences"], atol=1e-5)
        start += n
    assert start == len(emb["clips"])
