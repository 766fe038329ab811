"""MLP action classifier on frozen HSE whole-video embeddings.

    python -m hse_tf.classify train --checkpoint runs/demo_hse --train_labels data/demo/labels_train.csv \
        --val_labels data/demo/labels_val.csv --features data/demo/c3d_features.hdf5 --out runs/demo_mlp
    python -m hse_tf.classify eval --classifier runs/demo_mlp --labels data/demo/labels_val.csv \
        --features data/demo/c3d_features.hdf5

One hidden layer (ReLU, dropout) on the clip encoder's embedding of the whole video (frozen);
one label per video (the label covering most of it). Reports top-1 / top-5 and the class
imbalance (largest / smallest class, majority-class baseline).
"""

import json
import os
import sys

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def _data(model, labels_path, features, layout, classes, on_bad_input, batch_size):
    from hse_tf.data.annotations import read_tsp_labels, video_labels
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import open_features
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
                                  IssueLog(on_bad_input), batch_size)
    return ids, emb, np.asarray([index[labels[v]] for v in ids]), classes


def imbalance(y, classes):
    counts = np.bincount(y, minlength=len(classes))
    present = counts[counts > 0]
    return {"largest_class": classes[int(np.argmax(counts))], "largest": int(counts.max()),
            "smallest": int(present.min()), "classes_present": int(len(present)),
            "majority_baseline_top1": 100.0 * counts.max() / len(y)}


def evaluate(clf, emb, y, classes):
    from hse_tf.heads.whole_video import topk_accuracy
    scores = clf.predict(emb, verbose=0)
    return {**topk_accuracy(scores, [{int(t)} for t in y]), "videos": int(len(y)),
            **imbalance(y, classes)}


def train(checkpoint, train_labels, val_labels, features, out, layout="c3d_hdf5", hidden=512,
          epochs=50, lr=1e-3, batch_size=64, seed=0, on_bad_input="error", log=print,
          overwrite=False):
    import keras

    from hse_tf.data.outputs import CLASSIFIER, claim, owned_dir
    if epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    claim(out, CLASSIFIER, overwrite)  # before training: fail fast
    from hse_tf.experiment import load_run
    from hse_tf.heads.mlp_classifier import MLPClassifier
    keras.utils.set_random_seed(seed)
    _, _, model, ckpt = load_run(checkpoint)
    _, x, y, classes = _data(model, train_labels, features, layout, None, on_bad_input, 64)
    imb = imbalance(y, classes)
    log(f"train: {len(y)} videos, {len(classes)} classes, largest {imb['largest_class']!r} "
        f"{imb['largest']} / smallest {imb['smallest']} videos")
    clf = MLPClassifier(len(classes), hidden)
    clf.compile(optimizer=keras.optimizers.Adam(lr),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    result = {"train": evaluate(clf, x, y, classes)}
    if val_labels:
        _, xv, yv, _ = _data(model, val_labels, features, layout, classes, on_bad_input, 64)
        result["val"] = evaluate(clf, xv, yv, classes)
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


def eval_saved(path, labels, features, layout=None, on_bad_input="error", log=print):
    from hse_tf.experiment import load_run
    clf, meta = load_classifier(path)
    _, _, model, _ = load_run(meta["checkpoint"])
    _, x, y, classes = _data(model, labels, features, layout or meta["layout"], meta["classes"],
                             on_bad_input, 64)
    r = evaluate(clf, x, y, classes)
    log(f"top-1 {r['top1']:.1f}%  top-5 {r['top5']:.1f}%  ({r['videos']} videos; majority class "
        f"{r['majority_baseline_top1']:.1f}%)")
    return r


def main(argv):
    if len(argv) != 2 or argv[1] not in ("train", "eval"):
        raise app.UsageError("usage: python -m hse_tf.classify train|eval [flags]")
    if argv[1] == "train":
        train(FLAGS.checkpoint, FLAGS.train_labels, FLAGS.val_labels, FLAGS.features, FLAGS.out,
              FLAGS.feature_layout or "c3d_hdf5", FLAGS.hidden, FLAGS.epochs, FLAGS.lr, seed=FLAGS.seed,
              on_bad_input=FLAGS.on_bad_input, overwrite=FLAGS.overwrite)
    else:
        eval_saved(FLAGS.classifier, FLAGS.labels, FLAGS.features, FLAGS.feature_layout,
                   FLAGS.on_bad_input)
    sys.stdout.flush()


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "HSE training run or checkpoint (train).")
    flags.DEFINE_string("train_labels", None, "TSP CSV of the training videos (train).")
    flags.DEFINE_string("val_labels", None, "TSP CSV of validation videos (train, optional).")
    flags.DEFINE_string("labels", None, "TSP CSV of the videos to evaluate (eval).")
    flags.DEFINE_string("classifier", None, "Classifier folder written by train (eval).")
    flags.DEFINE_string("features", None, "Feature file or folder.")
    flags.DEFINE_string("feature_layout", None, "Default: c3d_hdf5 (train), as trained (eval).")
    flags.DEFINE_string("out", "runs/mlp", "Output folder (train).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing classifier folder at --out (train).")
    flags.DEFINE_integer("hidden", 512, "Hidden units.")
    flags.DEFINE_integer("epochs", 50, "Training epochs.", lower_bound=1)
    flags.DEFINE_float("lr", 1e-3, "Adam learning rate.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_enum("on_bad_input", "error", ["error", "skip"], "Bad or missing features.")
    from hse_tf import cli
    cli.run_absl(main)
