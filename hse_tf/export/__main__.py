"""python -m hse_tf.export --checkpoint RUN_OR_CKPT --out models/ [--version N]

Writes models/hse_video/<N>/ and models/hse_text/<N>/ (TF Serving layout); with --caption_checkpoint
or --classifier_checkpoint, also the downstream heads. A run trained on features from
`python -m hse_tf.features extract` also gets models/hse_features/<N>/ (frames -> features, the
same backbone and preprocessing).
"""

import os
import sys

from absl import app, flags, logging

from hse_tf.export.layout import MAX_CLIPS, MAX_PARAGRAPH

flags.DEFINE_string("checkpoint", None, "Training run folder or one of its ckpt-NNNN folders.")
flags.DEFINE_string("out", "models", "Model base folder (TF Serving's model_base_path parent).")
flags.DEFINE_integer("version", None, "Version number of every model of this export; default: "
                     "one above the highest present.", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace an existing --version (only an hse_tf export).")
flags.DEFINE_integer("max_clips", MAX_CLIPS, "Largest number of clips per video a request "
                     "may have.", lower_bound=1)
flags.DEFINE_integer("max_sentences", MAX_PARAGRAPH, "Largest number of sentences per "
                     "paragraph.", lower_bound=1)
flags.DEFINE_string("classifier_checkpoint", None, "Classifier folder (python -m "
                    "hse_tf.classify train): also export hse_classifier.")
flags.DEFINE_string("caption_checkpoint", None, "Captioner folder (python -m hse_tf.caption "
                    "train): also export hse_caption.")
flags.DEFINE_enum("feature_extractor", "auto", ["auto", "none"],
                  "auto: export hse_features (uint8 frames -> features) when the run's features "
                  "were extracted by python -m hse_tf.features; none: do not.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.checkpoint:
        raise app.UsageError("--checkpoint is required")
    from hse_tf.training.runs import load_run
    from hse_tf.export import exporter
    from hse_tf.data.preprocessing import Preprocessing
    cfg, vocab, model, ckpt = load_run(FLAGS.checkpoint)
    preprocessing = Preprocessing.from_run(cfg)  # served exactly as trained
    members = exporter.encoder_members(
        model, vocab, {"checkpoint": os.path.abspath(ckpt), "model_type": cfg["model"]},
        FLAGS.max_clips, FLAGS.max_sentences, preprocessing)
    settings = cfg.get("feature_extraction")
    if settings and FLAGS.feature_extractor == "auto":
        members.append(exporter.features_member(settings, {"checkpoint": os.path.abspath(ckpt)}))
    if FLAGS.caption_checkpoint:
        from hse_tf.caption.jobs import load_captioner
        captioner, meta = load_captioner(FLAGS.caption_checkpoint)
        if os.path.abspath(meta["checkpoint"]) != os.path.abspath(ckpt):
            logging.warning("captioner was trained on %s, exporting with %s", meta["checkpoint"],
                            ckpt)
        members.append(exporter.caption_member(
            model, captioner, meta, FLAGS.max_clips,
            {"captioner": os.path.abspath(FLAGS.caption_checkpoint)}, preprocessing))
    if FLAGS.classifier_checkpoint:
        from hse_tf.heads.jobs import load_classifier
        clf, meta = load_classifier(FLAGS.classifier_checkpoint)
        members.append(exporter.classifier_member(
            model, clf, meta, {"classifier": os.path.abspath(FLAGS.classifier_checkpoint)},
            preprocessing))
    paths = exporter.write_export(FLAGS.out, members, FLAGS.version, FLAGS.overwrite)
    for name, path in paths.items():
        logging.info("exported %s -> %s", name, path)
        print(f"{name}: {path}")
    sys.stdout.flush()


if __name__ == "__main__":
    from hse_tf import cli
    cli.run_absl(main)
