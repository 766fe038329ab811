"""Captioning jobs: conditions from a frozen HSE model, training, decoding, evaluation."""


import json
import os

import numpy as np
from absl import logging

from hse_tf.data.options import EVAL_BATCH_SIZE


def conditions(model, annotations, store, vocab, layout_issues=None,
               batch_size=EVAL_BATCH_SIZE):
    """[M, 2H] = [clip ; video] per ground-truth clip (frozen HSE), and the clips' sentences."""
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.evaluation import embed_split
    split = VideoDataset(annotations, store, vocab, layout_issues or IssueLog())
    emb = embed_split(model, split, batch_size)
    kept = [split.annotations[i] for i in emb["index"]]
    counts = [len(a.segments) for a in kept]
    cond = np.concatenate([emb["clips"], np.repeat(emb["video"], counts, axis=0)], axis=1)
    keys = [f"{a.video_id}#{i}" for a in kept for i in range(len(a.segments))]
    return cond, [s for a in kept for s in a.sentences], keys


def token_arrays(sentences, cap_vocab, max_len):
    """-> (inputs [M, max_len+1] = <bos> w.., targets [M, max_len+1] = w.. <eos>), 0-padded;
    sentences longer than max_len words are cut."""
    from hse_tf.caption.captioner import BOS_ID, EOS_ID
    n = len(sentences)
    inputs = np.zeros((n, max_len + 1), np.int32)
    targets = np.zeros((n, max_len + 1), np.int32)
    for i, ids in enumerate(cap_vocab.ids_all(sentences)):
        ids = ids[:max_len]
        inputs[i, :len(ids) + 1] = [BOS_ID] + ids
        targets[i, :len(ids) + 1] = ids + [EOS_ID]
    return inputs, targets


def train(checkpoint, train_annotations, features, out, val_annotations=None, layout="c3d_hdf5",
          epochs=25, lr=1e-3, hidden=512, word_dim=300, max_len=30, min_count=1, batch_size=64,
          seed=0, beam=5, overwrite=False):
    import keras

    from hse_tf.caption.captioner import Captioner, caption_words
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.outputs import CAPTIONER, claim, owned_dir
    from hse_tf.data.features import open_features
    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import load_run
    if epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    claim(out, CAPTIONER, overwrite)  # before training: fail fast
    keras.utils.set_random_seed(seed)
    _, vocab, model, ckpt = load_run(checkpoint)
    store = open_features(layout, features)
    anns = read_activitynet_captions(train_annotations)
    cond, sents, _ = conditions(model, anns, store, vocab)
    built = Vocabulary.build(sents, min_count)
    cap_vocab = Vocabulary(caption_words(built.words))
    x, y = token_arrays(sents, cap_vocab, max_len)
    logging.info("captioning: %d training clips, vocabulary %d words, condition %d-d",
                 len(sents), len(cap_vocab), cond.shape[1])
    cap = Captioner(len(cap_vocab), cond.shape[1], word_dim, hidden)
    cap.compile(optimizer=keras.optimizers.Adam(lr),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                ignore_class=0))
    hist = cap.fit({"condition": cond, "tokens": x}, y, epochs=epochs, batch_size=batch_size,
                   shuffle=True, verbose=2)
    meta = {"checkpoint": ckpt, "layout": layout, "max_len": max_len, "beam": beam,
            "words": cap_vocab.words, "final_loss": float(hist.history["loss"][-1])}
    with owned_dir(out, CAPTIONER, overwrite) as tmp:
        cap.save(os.path.join(tmp, "captioner.keras"))
        with open(os.path.join(tmp, "captioner.json"), "w") as f:
            json.dump(meta, f)
    result = {"train_loss": meta["final_loss"]}
    if val_annotations:  # the models in memory: no reloading of the run or the captioner
        result["val"] = score_split(cap, meta, model, vocab,
                                    read_activitynet_captions(val_annotations), store)
    return result


def load_captioner(path):
    import keras

    from hse_tf.caption.captioner import Captioner  # noqa: F401 (registers the class)
    meta_path = os.path.join(path, "captioner.json")
    if not os.path.exists(meta_path):
        raise FileNotFoundError(f"{meta_path}: not a captioner folder (train one first)")
    with open(meta_path) as f:
        meta = json.load(f)
    return keras.saving.load_model(os.path.join(path, "captioner.keras")), meta


def generate(cap, meta, cond, beam=None, length_penalty=0.0, batch_size=256):
    import tensorflow as tf

    from hse_tf.caption.captioner import ids_to_text
    beam = beam or meta["beam"]
    fn = tf.function(lambda c: cap.decode(c, beam, meta["max_len"], length_penalty),
                     reduce_retracing=True)
    out = []
    for s in range(0, len(cond), batch_size):
        ids, _, _ = fn(tf.constant(cond[s:s + batch_size], tf.float32))
        out.extend(ids_to_text(ids.numpy(), meta["words"]))
    return out


def score_split(cap, meta, model, vocab, annotations, store, beam=None, length_penalty=0.0,
                out=None, log=print):
    """Captions every ground-truth clip of `annotations` and scores them against its sentence."""
    from hse_tf.caption.metrics import caption_scores
    from hse_tf.data.outputs import CAPTION_SCORES, claim_file, write_json
    if out:
        claim_file(out, CAPTION_SCORES)  # before the work, not after
    cond, sents, keys = conditions(model, annotations, store, vocab)
    preds = generate(cap, meta, cond, beam, length_penalty)
    scores = caption_scores(dict(zip(keys, preds)), {k: [s] for k, s in zip(keys, sents)},
                            log=log)
    log("  ".join(f"{k} {v:.2f}" for k, v in scores.items()) + f"   ({len(keys)} clips)")
    if out:
        write_json(out, CAPTION_SCORES, {"scores": scores, "captions": dict(zip(keys, preds))})
    return scores


def evaluate(captioner, annotations, features, layout=None, beam=None, length_penalty=0.0,
             out=None, log=print):
    """score_split for a saved captioner (and the HSE run it was trained on)."""
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.features import open_features
    from hse_tf.training.runs import load_run
    cap, meta = load_captioner(captioner)
    _, vocab, model, _ = load_run(meta["checkpoint"])
    return score_split(cap, meta, model, vocab, read_activitynet_captions(annotations),
                       open_features(layout or meta["layout"], features), beam, length_penalty,
                       out, log)


def predict(captioner, features, video_id, layout=None, annotations=None, clip_times=None,
            duration=None, beam=None):
    from hse_tf.data.annotations import VideoAnnotation, read_activitynet_captions
    from hse_tf.data.features import open_features
    from hse_tf.training.runs import load_run
    cap, meta = load_captioner(captioner)
    _, vocab, model, _ = load_run(meta["checkpoint"])
    if annotations:
        anns = [a for a in read_activitynet_captions(annotations) if a.video_id == video_id]
        if not anns:
            raise ValueError(f"{annotations}: no video {video_id}")
    else:
        anns = [VideoAnnotation(video_id, duration, clip_times, ["x"] * len(clip_times))]
    cond, _, keys = conditions(model, anns, open_features(layout or meta["layout"], features),
                               vocab)
    return list(zip(anns[0].segments, generate(cap, meta, cond, beam)))
