"""Zero-shot action recognition with a trained HSE model.

    python -m hse_tf.zeroshot --checkpoint runs/demo_hse --labels data/demo/labels_val.csv \
        --features data/demo/c3d_features.hdf5

Class names (from --classes, a JSON list such as activitynet200_classes.json, or the labels
found in the CSV) go through the sentence encoder; each labelled video through the clip encoder
over the whole video; classes are ranked by cosine. Prints top-1 / top-5 and reports class
names the vocabulary does not cover (they stay in the ranking with the UNK embedding).
"""

import sys

from absl import app, flags

from hse_tf.data.errors import BAD_INPUT_POLICIES

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from hse_tf.heads.jobs import zero_shot_run
    zero_shot_run(FLAGS.checkpoint, FLAGS.labels, FLAGS.features, FLAGS.feature_layout, FLAGS.classes,
        FLAGS.on_bad_input, FLAGS.batch_size, FLAGS.out)
    sys.stdout.flush()


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "Training run or checkpoint folder.", required=True)
    flags.DEFINE_string("labels", None, "TSP ground-truth CSV of the videos to classify.",
                        required=True)
    flags.DEFINE_string("features", None, "Feature file or folder.", required=True)
    flags.DEFINE_string("feature_layout", "c3d_hdf5", "c3d_hdf5, inception_npz, didemo_hdf5, hdf5")
    flags.DEFINE_string("classes", None, "JSON list of class names (default: the CSV's labels).")
    flags.DEFINE_enum("on_bad_input", "error", BAD_INPUT_POLICIES, "Bad or missing features.")
    flags.DEFINE_integer("batch_size", 64, "Videos per batch.", lower_bound=1)
    flags.DEFINE_string("out", None, "Write the results as JSON here.")
    from hse_tf import cli
    cli.run_absl(main)
