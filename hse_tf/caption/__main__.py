"""Video captioning on frozen HSE embeddings (Table 5): train, eval, predict.

    python -m hse_tf.caption train --checkpoint runs/demo_hse --train_annotations data/demo/train.json \
        --val_annotations data/demo/val_1.json --features data/demo/c3d_features.hdf5 --out runs/demo_caption
    python -m hse_tf.caption eval --captioner runs/demo_caption --annotations data/demo/val_1.json \
        --features data/demo/c3d_features.hdf5
    python -m hse_tf.caption predict --captioner runs/demo_caption --features data/demo/c3d_features.hdf5 \
        --video_id v_demo00600 --annotations data/demo/val_1.json

Each ground-truth clip's embedding, concatenated with its video's embedding, conditions a 2-layer
LSTM (random-init word embeddings, teacher forcing, Adam); captions come from beam search (beam
5; --beam 1 is greedy). Metrics: BLEU@1-4, METEOR, CIDEr against the clip's sentence.
"""

import json
import sys

from absl import app, flags

from hse_tf.caption.jobs import evaluate, predict, train

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) != 2 or argv[1] not in ("train", "eval", "predict"):
        raise app.UsageError("usage: python -m hse_tf.caption train|eval|predict [flags]")
    if argv[1] == "eval" or (argv[1] == "train" and FLAGS.val_annotations):
        from hse_tf.cli import require_extra
        require_extra("caption", "pycocoevalcap", what="caption scores (BLEU, METEOR, CIDEr)")
    if argv[1] == "train":
        res = train(FLAGS.checkpoint, FLAGS.train_annotations, FLAGS.features, FLAGS.out,
                    FLAGS.val_annotations, FLAGS.feature_layout or "c3d_hdf5", FLAGS.epochs,
                    FLAGS.lr, FLAGS.hidden, FLAGS.word_dim, FLAGS.max_len, FLAGS.min_word_count,
                    seed=FLAGS.seed, beam=FLAGS.beam, overwrite=FLAGS.overwrite)
        print(json.dumps(res))
    elif argv[1] == "eval":
        evaluate(FLAGS.captioner, FLAGS.annotations, FLAGS.features, FLAGS.feature_layout,
                 FLAGS.beam, FLAGS.length_penalty, FLAGS.out_json)
    else:
        from hse_tf.cli import parse_clip_times
        times = parse_clip_times(FLAGS.clip_times) if FLAGS.clip_times else None
        for (t0, t1), caption in predict(FLAGS.captioner, FLAGS.features, FLAGS.video_id,
                                         FLAGS.feature_layout, FLAGS.annotations, times,
                                         FLAGS.duration, FLAGS.beam):
            print(f"{t0:7.1f}-{t1:7.1f} s  {caption}")
    sys.stdout.flush()


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "HSE run or checkpoint (train).")
    flags.DEFINE_string("train_annotations", None, "ActivityNet-style JSON (train).")
    flags.DEFINE_string("val_annotations", None, "Evaluate on these after training.")
    flags.DEFINE_string("annotations", None, "ActivityNet-style JSON (eval, predict).")
    flags.DEFINE_string("captioner", None, "Folder written by train (eval, predict).")
    flags.DEFINE_string("features", None, "Feature file or folder.")
    flags.DEFINE_string("feature_layout", None, "Default c3d_hdf5 (train), as trained (else).")
    flags.DEFINE_string("out", "runs/caption", "Output folder (train).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing captioner folder at --out (train).")
    flags.DEFINE_string("out_json", None, "Write scores and captions here (eval).")
    flags.DEFINE_integer("epochs", 25, "Training epochs (paper: 25).", lower_bound=1)
    flags.DEFINE_float("lr", 1e-3, "Adam learning rate (paper: 1e-3).")
    flags.DEFINE_integer("hidden", 512, "LSTM units.", lower_bound=1)
    flags.DEFINE_integer("word_dim", 300, "Word embedding size (random init).")
    flags.DEFINE_integer("max_len", 30, "Longest caption in words.", lower_bound=1)
    flags.DEFINE_integer("min_word_count", 1, "Caption vocabulary: words seen at least this often.")
    flags.DEFINE_integer("beam", 5, "Beam width (1 = greedy).", lower_bound=1)
    flags.DEFINE_float("length_penalty", 0.0, "Divide beam scores by length**this (0 = off).")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_string("video_id", None, "Video to caption (predict).")
    flags.DEFINE_string("clip_times", None, "start:end,... seconds (predict, no annotations).")
    flags.DEFINE_float("duration", None, "Video duration in seconds (predict with clip_times).")
    from hse_tf import cli
    cli.run_absl(main)
