"""MLP action classifier on frozen HSE whole-video embeddings.

    python -m hse_tf.classify train --checkpoint runs/demo_hse --train_labels data/demo/labels_train.csv \
        --val_labels data/demo/labels_val.csv --features data/demo/c3d_features.hdf5 --out runs/demo_mlp
    python -m hse_tf.classify eval --classifier runs/demo_mlp --labels data/demo/labels_val.csv \
        --features data/demo/c3d_features.hdf5

One hidden layer (ReLU, dropout) on the clip encoder's embedding of the whole video (frozen);
one label per video (the label covering most of it). Reports top-1 / top-5 and the class
imbalance (largest / smallest class, majority-class baseline).
"""

import sys

from absl import app, flags

from hse_tf.data.errors import BAD_INPUT_POLICIES

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) != 2 or argv[1] not in ("train", "eval"):
        raise app.UsageError("usage: python -m hse_tf.classify train|eval [flags]")
    from hse_tf.heads.jobs import eval_classifier, train_classifier
    if argv[1] == "train":
        train_classifier(FLAGS.checkpoint, FLAGS.train_labels, FLAGS.val_labels, FLAGS.features, FLAGS.out,
              FLAGS.feature_layout or "c3d_hdf5", FLAGS.hidden, FLAGS.epochs, FLAGS.lr, seed=FLAGS.seed,
              on_bad_input=FLAGS.on_bad_input, overwrite=FLAGS.overwrite)
    else:
        eval_classifier(FLAGS.classifier, FLAGS.labels, FLAGS.features, FLAGS.feature_layout,
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
    flags.DEFINE_integer("hidden", 512, "Hidden units.", lower_bound=1)
    flags.DEFINE_integer("epochs", 50, "Training epochs.", lower_bound=1)
    flags.DEFINE_float("lr", 1e-3, "Adam learning rate.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_enum("on_bad_input", "error", BAD_INPUT_POLICIES, "Bad or missing features.")
    from hse_tf import cli
    cli.run_absl(main)
