"""The heads' jobs over a trained HSE run: the MLP classifier (train, evaluate, load) and
zero-shot recognition. `python -m hse_tf.classify` and `python -m hse_tf.zeroshot` are the
commands over them; the maths are in mlp_classifier, whole_video and zeroshot.
"""

import json
import os

import numpy as np

from hse_tf.data.options import EVAL_BATCH_SIZE


def _data(model, cfg, labels_path, features, layout, classes, on_bad_input, batch_size):
    """Whole-video embeddings of the labelled videos, cut as the run `cfg` was trained."""
    from hse_tf.data.annotations import read_tsp_labels, video_labels
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import open_features
    from hse_tf.data.preprocessing import Preprocessing
    from hse_tf.heads.whole_video import embed_whole_videos
    labels = video_labels(read_tsp_labels(labels_path))
    if classes is None:
        classes = sorted(set(labels.values()))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels.values()) - set(index))
    if unknown:
        raise ValueError(f"{labels_path}: classes the classifier was not trained on: "
                         f"{unknown[:5]}")
    ids, emb = embed_whole_videos(model, open_features(layout, features), sorted(labels),
                                  IssueLog(on_bad_input), batch_size,
                                  Preprocessing.from_run(cfg).max_frames)
    return ids, emb, np.asarray([index[labels[v]] for v in ids]), classes


def imbalance(y, classes):
    counts = np.bincount(y, minlength=len(classes))
    present = counts[counts > 0]
    return {"largest_class": classes[int(np.argmax(counts))], "largest": int(counts.max()),
            "smallest": int(present.min()), "classes_present": int(len(present)),
            "majority_baseline_top1": 100.0 * counts.max() / len(y)}


def evaluate_classifier(clf, emb, y, classes):
    from hse_tf.heads.whole_video import topk_accuracy
    scores = clf.predict(emb, verbose=0)
    return {**topk_accuracy(scores, [{int(t)} for t in y]), "videos": int(len(y)),
            **imbalance(y, classes)}


def train_classifier(checkpoint, train_labels, val_labels, features, out, layout="c3d_hdf5", hidden=512,
          epochs=50, lr=1e-3, batch_size=64, seed=0, on_bad_input="error", log=print,
          overwrite=False):
    import keras

    from hse_tf.data.outputs import CLASSIFIER, claim, owned_dir
    if epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    claim(out, CLASSIFIER, overwrite)  # before training: fail fast
    from hse_tf.training.runs import load_run
    from hse_tf.heads.mlp_classifier import MLPClassifier
    keras.utils.set_random_seed(seed)
    cfg, _, model, ckpt = load_run(checkpoint)
    _, x, y, classes = _data(model, cfg, train_labels, features, layout, None, on_bad_input,
                             EVAL_BATCH_SIZE)
    imb = imbalance(y, classes)
    log(f"train: {len(y)} videos, {len(classes)} classes, largest {imb['largest_class']!r} "
        f"{imb['largest']} / smallest {imb['smallest']} videos")
    clf = MLPClassifier(len(classes), hidden)
    clf.compile(optimizer=keras.optimizers.Adam(lr),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    result = {"train": evaluate_classifier(clf, x, y, classes)}
    if val_labels:
        _, xv, yv, _ = _data(model, cfg, val_labels, features, layout, classes, on_bad_input,
                             EVAL_BATCH_SIZE)
        result["val"] = evaluate_classifier(clf, xv, yv, classes)
    with owned_dir(out, CLASSIFIER, overwrite) as tmp:
        clf.save(os.path.join(tmp, "classifier.keras"))
        with open(os.path.join(tmp, "classifier.json"), "w") as f:
            json.dump({"checkpoint": ckpt, "classes": classes, "layout": layout,
                       "results": result}, f, indent=1)
    for split, r in result.items():
        log(f"{split}: top-1 {r['top1']:.1f}%  top-5 {r['top5']:.1f}%  ({r['videos']} videos; "
            f"majority class {r['majority_baseline_top1']:.1f}%)")
    return result


def load_classifier(path):
    import keras

    from hse_tf.heads.mlp_classifier import MLPClassifier  # noqa: F401 (registers the class)
    with open(os.path.join(path, "classifier.json")) as f:
        meta = json.load(f)
    return keras.saving.load_model(os.path.join(path, "classifier.keras")), meta


def eval_classifier(path, labels, features, layout=None, on_bad_input="error", log=print):
    from hse_tf.training.runs import load_run
    clf, meta = load_classifier(path)
    cfg, _, model, _ = load_run(meta["checkpoint"])
    _, x, y, classes = _data(model, cfg, labels, features, layout or meta["layout"], meta["classes"],
                             on_bad_input, EVAL_BATCH_SIZE)
    r = evaluate_classifier(clf, x, y, classes)
    log(f"top-1 {r['top1']:.1f}%  top-5 {r['top5']:.1f}%  ({r['videos']} videos; majority class "
        f"{r['majority_baseline_top1']:.1f}%)")
    return r


def zero_shot_run(checkpoint, labels_path, features, layout="c3d_hdf5", classes_path=None,
        on_bad_input="error", batch_size=EVAL_BATCH_SIZE, out=None, log=print):
    from hse_tf.data.annotations import read_tsp_labels
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import open_features
    from hse_tf.data.outputs import ZERO_SHOT, claim_file, write_json
    from hse_tf.data.preprocessing import Preprocessing
    from hse_tf.training.runs import load_run
    from hse_tf.heads.whole_video import embed_whole_videos
    from hse_tf.heads.zeroshot import embed_class_names, zero_shot
    if out:
        claim_file(out, ZERO_SHOT)  # before the work, not after
    cfg, vocab, model, ckpt = load_run(checkpoint)
    segments = read_tsp_labels(labels_path)
    labels = {vid: {s[2] for s in segs} for vid, segs in segments.items()}
    if classes_path:
        with open(classes_path, encoding="utf-8") as f:
            classes = json.load(f)
        unknown = sorted({n for lab in labels.values() for n in lab} - set(classes))
        if unknown:
            raise ValueError(f"{labels_path}: labels not in {classes_path}: {unknown[:5]}")
    else:
        classes = sorted({n for lab in labels.values() for n in lab})
    issues = IssueLog(on_bad_input)
    store = open_features(layout, features)
    ids, video_emb = embed_whole_videos(model, store, sorted(labels), issues, batch_size,
                                        Preprocessing.from_run(cfg).max_frames)
    class_emb, no_known, some_unknown = embed_class_names(model, vocab, classes)
    if no_known:
        log(f"warning: {len(no_known)} class names have no word in the vocabulary (ranked by the "
            f"UNK embedding): {no_known}")
    if some_unknown:
        log(f"note: {len(some_unknown)} class names have some unknown words: "
            f"{some_unknown[:10]}{' ...' if len(some_unknown) > 10 else ''}")
    result = zero_shot(video_emb, class_emb, [labels[v] for v in ids], classes)
    result.update(checkpoint=ckpt, no_known_words=no_known, some_unknown_words=some_unknown,
                  skipped=issues.counts)
    log(f"zero-shot on {result['videos']} videos, {result['classes']} classes: top-1 "
        f"{result['top1']:.1f}%  top-5 {result['top5']:.1f}%  (chance {result['chance_top1']:.1f}%)")
    if out:
        write_json(out, ZERO_SHOT, result)
    return result
