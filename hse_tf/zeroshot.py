"""Zero-shot action recognition with a trained HSE model.

    python -m hse_tf.zeroshot --checkpoint runs/demo_hse --labels data/demo/labels_val.csv \
        --features data/demo/c3d_features.hdf5

Class names (from --classes, a JSON list such as activitynet200_classes.json, or the labels
found in the CSV) go through the sentence encoder; each labelled video through the clip encoder
over the whole video; classes are ranked by cosine. Prints top-1 / top-5 and reports class
names the vocabulary does not cover (they stay in the ranking with the UNK embedding).
"""

import json
import sys

from absl import app, flags

FLAGS = flags.FLAGS


def run(checkpoint, labels_path, features, layout="c3d_hdf5", classes_path=None,
        on_bad_input="error", batch_size=64, out=None, log=print):
    from hse_tf.data.annotations import read_tsp_labels
    from hse_tf.data.atomic import atomic_path
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import open_features
    from hse_tf.experiment import load_run
    from hse_tf.heads.whole_video import embed_whole_videos
    from hse_tf.heads.zeroshot import embed_class_names, zero_shot
    _, vocab, model, ckpt = load_run(checkpoint)
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
    ids, video_emb = embed_whole_videos(model, store, sorted(labels), issues, batch_size)
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
        with atomic_path(out) as tmp, open(tmp, "w") as f:
            json.dump(result, f, indent=1)
    return result


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    run(FLAGS.checkpoint, FLAGS.labels, FLAGS.features, FLAGS.feature_layout, FLAGS.classes,
        FLAGS.on_bad_input, FLAGS.batch_size, FLAGS.out)
    sys.stdout.flush()


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "Training run or checkpoint folder.", required=True)
    flags.DEFINE_string("labels", None, "TSP ground-truth CSV of the videos to classify.",
                        required=True)
    flags.DEFINE_string("features", None, "Feature file or folder.", required=True)
    flags.DEFINE_string("feature_layout", "c3d_hdf5", "c3d_hdf5, inception_npz, didemo_hdf5, hdf5")
    flags.DEFINE_string("classes", None, "JSON list of class names (default: the CSV's labels).")
    flags.DEFINE_enum("on_bad_input", "error", ["error", "skip"], "Bad or missing features.")
    flags.DEFINE_integer("batch_size", 64, "Videos per batch.", lower_bound=1)
    flags.DEFINE_string("out", None, "Write the results as JSON here.")
    from hse_tf import cli
    cli.run_absl(main)
