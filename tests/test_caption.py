"""Captioning head: beam search consistency, training, export parity, serving."""

import numpy as np
import pytest
import tensorflow as tf

from hse_tf.caption.captioner import BOS_ID, EOS_ID, Captioner, ids_to_text


def _loglik(cap, cond, ids, length, max_len):
    """Teacher-forced log-probability of a decoded caption (plus <eos> if it ended)."""
    words = list(ids[:length])
    ended = length < max_len
    targets = words + ([EOS_ID] if ended else [])
    inputs = [BOS_ID] + targets[:-1]
    logits = cap({"condition": cond[None], "tokens": np.array([inputs], np.int32)})
    logp = tf.nn.log_softmax(logits[0]).numpy()
    return float(sum(logp[t, w] for t, w in enumerate(targets)))


def test_beam_scores_are_the_captions_log_likelihood_and_beat_greedy():
    import keras
    keras.utils.set_random_seed(3)
    cap = Captioner(vocab_size=12, cond_dim=6, word_dim=5, hidden=8)
    cond = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    cap({"condition": cond, "tokens": np.ones((4, 3), np.int32)})
    greedy = [x.numpy() for x in cap.decode(tf.constant(cond), beam=1, max_len=6)]
    beam = [x.numpy() for x in cap.decode(tf.constant(cond), beam=4, max_len=6)]
    for ids, lengths, scores in (greedy, beam):
        assert ids.shape == (4, 6)
        for i in range(4):
            assert np.all(ids[i, lengths[i]:] == 0) and np.all(ids[i, :lengths[i]] > 0)
            assert not np.any(ids[i] == EOS_ID) and not np.any(ids[i] == BOS_ID)
            assert scores[i] == pytest.approx(_loglik(cap, cond[i], ids[i], lengths[i], 6),
                                              abs=1e-4)
    assert np.all(beam[2] >= greedy[2] - 1e-5)  # a wider beam never finds a worse caption
    ids, _, _ = cap.decode(tf.constant(cond), beam=3, max_len=6, length_penalty=0.7)
    assert ids.shape == (4, 6)
    assert ids_to_text([[4, 5, 0, 0]], ["", "", "", "", "a", "man"]) == ["a man"]


def test_token_arrays():
    from hse_tf.caption.captioner import caption_words
    from hse_tf.caption.jobs import token_arrays
    from hse_tf.data.vocabulary import Vocabulary
    vocab = Vocabulary(caption_words(["<pad>", "<unk>", "a", "man", "surfs"]))
    x, y = token_arrays(["A man surfs!", "a dog"], vocab, max_len=3)
    # ids: a=4, man=5, surfs=6, dog -> unk (1); <bos>=2, <eos>=3
    np.testing.assert_array_equal(x, [[2, 4, 5, 6], [2, 4, 1, 0]])
    np.testing.assert_array_equal(y, [[4, 5, 6, 3], [4, 1, 3, 0]])


def test_caption_train_eval_export_and_serve(trained_run, tiny_demo, tmp_path):
    from hse_tf.caption.jobs import conditions, evaluate, generate, load_captioner, train
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.features import open_features
    from hse_tf.training.runs import load_run
    from hse_tf.export import export_caption
    from hse_tf.serving.client import HSEClient
    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.server import start_server
    out = str(tmp_path / "cap")
    res = train(trained_run, tiny_demo["train"], tiny_demo["features"], out, epochs=2,
                hidden=16, word_dim=8, max_len=12, beam=3)
    assert np.isfinite(res["train_loss"])
    scores = evaluate(out, tiny_demo["val_1"], tiny_demo["features"], log=lambda *_: None)
    assert {"BLEU@1", "BLEU@4", "CIDEr"} <= set(scores)
    cap, meta = load_captioner(out)
    _, vocab, model, _ = load_run(trained_run)
    anns = read_activitynet_captions(tiny_demo["val_1"])[:3]
    store = open_features("c3d_hdf5", tiny_demo["features"])
    cond, _, keys = conditions(model, anns, store, vocab)
    want = generate(cap, meta, cond)
    path = export_caption(model, cap, meta, str(tmp_path / "models"))
    sig = tf.saved_model.load(path).signatures["serving_default"]
    t_max = max(len(store.get(a.video_id)) for a in anns)
    c_max = max(len(a.segments) for a in anns)
    x = np.zeros((3, t_max, 8), np.float32)
    times = np.zeros((3, c_max, 2))
    for i, a in enumerate(anns):
        f = store.get(a.video_id)
        x[i, :len(f)] = f
        times[i, :len(a.segments)] = a.segments
    got = sig(features=tf.constant(x),
              feature_lengths=tf.constant([len(store.get(a.video_id)) for a in anns], tf.int64),
              clip_times=tf.constant(times), clip_counts=tf.constant(
                  [len(a.segments) for a in anns], tf.int64),
              durations=tf.constant([a.duration for a in anns], tf.float64))
    flat = [c.decode() for i, a in enumerate(anns) for c in got["captions"][i, :len(a.segments)]
            .numpy()]
    assert flat == want and len(flat) == len(keys)
    # Through gRPC: one clip's features -> one caption string.
    server, port, _ = start_server(ModelRegistry.from_dir(str(tmp_path / "models")))
    client = HSEClient(f"127.0.0.1:{port}")
    try:
        a = anns[0]
        f = store.get(a.video_id)
        reply = client.predict("hse_caption", {
            "features": f[None], "feature_lengths": np.array([len(f)], np.int64),
            "clip_times": np.array([[a.segments[0]]], np.float64),
            "clip_counts": np.array([1], np.int64), "durations": np.array([a.duration])})
        caption = reply["captions"][0, 0].decode()
        assert isinstance(caption, str) and caption == generate(
            cap, meta, conditions(model, [type(a)(a.video_id, a.duration, a.segments[:1],
                                                  a.sentences[:1])], store, vocab)[0])[0]
    finally:
        client.close()
        server.stop(None)
