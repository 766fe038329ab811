"""Trains HSE / FSE:  python -m hse_tf.train --flagfile=configs/anet.flags

Writes to --run_dir: run_config.json, vocab.txt, ckpt-EEEE/ per epoch (atomic), checkpoint.json,
results.json (final validation metrics) and TensorBoard logs under logs/ (loss terms, learning rate,
R@K per epoch, hyperparameters, and an Embedding Projector view of the validation videos).
"""

import sys

from absl import app, flags, logging

from hse_tf import cli

if __name__ == "__main__":  # the registries below import TensorFlow: quietly, as every command
    cli.quiet_tensorflow()

from hse_tf.data.annotations import READERS  # noqa: E402 (after the quiet import)
from hse_tf.data.errors import BAD_INPUT_POLICIES  # noqa: E402
from hse_tf.data.features import LAYOUTS  # noqa: E402
from hse_tf.layers.attention_encoder import POOLINGS, POSITIONS  # noqa: E402
from hse_tf.layers.encoders import ATTENTION_OPTIONS, DEFAULT_HIDDEN, ENCODERS  # noqa: E402
from hse_tf.losses.hse_loss import OPTIONS as LOSS_OPTIONS  # noqa: E402
from hse_tf.models.registry import MODELS  # noqa: E402
from hse_tf.training.runs import DEFAULT_WORD_DIM, MIXED_POLICIES, RANDOM_WORD_VECTORS  # noqa
from hse_tf.training.trainer import STRATEGIES  # noqa: E402

FLAGS = flags.FLAGS

# Data.
flags.DEFINE_enum("dataset", "activitynet", sorted(READERS) + ["demo"],
                  "Annotation layout ('demo' writes and uses the built-in demo dataset).")
flags.DEFINE_string("train_annotations", None, "Training annotation file.")
flags.DEFINE_string("val_annotations", None, "Validation annotation file.")
flags.DEFINE_string("train_subset", "training", "YouCook2 subset used for training.")
flags.DEFINE_string("val_subset", "validation", "YouCook2 subset used for validation.")
flags.DEFINE_string("features", None, "Feature file or folder.")
flags.DEFINE_enum("feature_layout", "c3d_hdf5", sorted(LAYOUTS),
                  "Layout of --features.")
flags.DEFINE_bool("cache_features", False, "Hold the features in memory after the first read "
                  "(when they fit): later epochs and validation do not touch the disk.")
flags.DEFINE_integer("feature_dim", 0, "Expected feature dimension (0: read from the file).")
flags.DEFINE_string("word_vectors", None, f"GloVe .txt or {{words, vectors}} .npz; '"
                    f"{RANDOM_WORD_VECTORS}': learned from random (--word_dim).")
flags.DEFINE_integer("word_dim", DEFAULT_WORD_DIM, "Random word vectors' size.", lower_bound=1)
flags.DEFINE_integer("min_word_count", 1, "Words seen fewer times in training map to UNK.")
flags.DEFINE_integer("max_frames", 80, "Longer clips and whole videos are subsampled to this.",
                     lower_bound=2)
flags.DEFINE_enum("on_bad_input", "error", BAD_INPUT_POLICIES,
                  "Bad videos/sentences: stop with an error, or skip and count them.")
flags.DEFINE_bool("sort_by_time", True, "Put each video's (segment, sentence) pairs in time order.")
flags.DEFINE_string("demo_dir", "data/demo", "Where --dataset=demo writes its files.")
flags.DEFINE_string("action_labels", None, "Optional TSP CSV: action labels for the projector.")
# Model.
flags.DEFINE_enum("model", "hse", sorted(MODELS), "Model from the registry.")
flags.DEFINE_integer("hidden", DEFAULT_HIDDEN, "Hidden size of every encoder.", lower_bound=1)
flags.DEFINE_enum("encoder", "gru", sorted(ENCODERS), "Encoder of every level: the "
                  "paper's GRU, or pre-norm Transformer blocks (hse_tf.layers.AttentionEncoder).")
flags.DEFINE_enum("low_encoder", None, sorted(ENCODERS), "Frames -> clip and words -> "
                  "sentence encoder (default: --encoder).")
flags.DEFINE_enum("high_encoder", None, sorted(ENCODERS), "Clips -> video and sentences -> "
                  "paragraph encoder (default: --encoder).")
flags.DEFINE_integer("layers", 1, "Attention encoders: Transformer blocks.", lower_bound=1)
flags.DEFINE_integer("heads", 4, "Attention encoders: heads (must divide --hidden).",
                     lower_bound=1)
flags.DEFINE_integer("ff_dim", 0, "Attention encoders: feed-forward width (0: 2 x --hidden).",
                     lower_bound=0)
flags.DEFINE_float("dropout", 0.1, "Attention encoders: dropout of attention and residuals.",
                   lower_bound=0.0, upper_bound=0.9)
flags.DEFINE_enum("positions", "sinusoidal", POSITIONS,
                  "Attention encoders: position encoding.")
flags.DEFINE_enum("pooling", "mean_max", POOLINGS, "Attention encoders: mean + max "
                  "over valid steps, or a CLS token.")
flags.DEFINE_bool("contextual", False, "Attention at the clip -> video and sentence -> paragraph "
                  "level: every block also attends over the whole video's frames (the whole "
                  "paragraph's words), COOT's contextual attention. Needs --high_encoder="
                  "attention.")
flags.DEFINE_bool("flat_context", True, "Flat embeddings as the high-level GRUs' initial state "
                  "(and their own match loss).")
# Losses.
flags.DEFINE_float("margin_high", 0.2, "alpha: video/paragraph match margin.")
flags.DEFINE_float("margin_low", 0.2, "beta: clip/sentence match margin.")
flags.DEFINE_float("gamma", 0.2, "Cluster-loss margin.")
flags.DEFINE_bool("hardest_negative", False, "Hardest negative (max) instead of the sum.")
flags.DEFINE_float("w_match_high", 1.0, "Weight of the high-level match loss (0: off).")
flags.DEFINE_float("w_match_low", 1.0, "Weight of the low-level match loss (0: off).")
flags.DEFINE_float("w_cluster_high", 1.0, "Weight of the high-level cluster loss (0: off).")
flags.DEFINE_float("w_cluster_low", 1.0, "Weight of the low-level cluster loss (0: off).")
flags.DEFINE_float("w_match_flat", 1.0, "Weight of the flat-context match loss (0: off).")
flags.DEFINE_float("tau_high", 5e-4, "Reconstruction weight, clip/sentence level (0: off).")
flags.DEFINE_float("tau_low", 1e-4, "Reconstruction weight, frame/word level (0: off).")
flags.DEFINE_bool("weak_low", False, "Weak correspondence: block-mean low-level match.")
flags.DEFINE_float("w_cycle", 0.0, "Weight of COOT's cross-modal cycle-consistency loss between "
                   "a video's clips and its sentences (0: off, as in HSE).", lower_bound=0.0)
# Training.
flags.DEFINE_integer("epochs", 15, "Epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Videos per batch (global).", lower_bound=1)
flags.DEFINE_float("lr", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("lr_decay_every", 10, "Epochs between learning-rate decays.", lower_bound=1)
flags.DEFINE_float("lr_decay_factor", 0.1, "Learning-rate decay factor.")
flags.DEFINE_float("clipnorm", 0.0, "Clip EACH variable's gradient to this norm separately "
                   "(0: off, the paper's setting).")
flags.DEFINE_float("global_clipnorm", 0.0, "Clip the global norm of all gradients together, the "
                   "common choice (0: off).")
flags.DEFINE_enum("mixed_precision", "none", list(MIXED_POLICIES),
                  "Compute the towers in bfloat16 or float16 (variables and losses stay float32; "
                  "float16 adds loss scaling). For GPUs (and CPUs with bfloat16 units).")
flags.DEFINE_enum("gru_implementation", "auto", ["auto", "packed", "keras"],
                  "GRU code: 'packed' (hse_tf/layers/packed_gru.py: no steps spent on padding, "
                  "a hand-written backward pass; the CPU path), "
                  "'keras' (keras.layers.GRU: cuDNN on a GPU), 'auto' = keras where TensorFlow "
                  "sees a GPU, else packed. Same maths and weights: checkpoints work with both.")
flags.DEFINE_integer("bucket_window", 0, "Length bucketing: sort each window of this many "
                     "batches of the shuffled epoch by paragraph length, cut it into batches and "
                     "draw the batches in random order (0, the default: plain shuffling; "
                     "docs/benchmarks.md has its measurements).")
flags.DEFINE_integer("seed", 0, "Random seed (init, shuffling).")
flags.DEFINE_bool("deterministic", False, "Deterministic ops (slower; exact reruns).")
flags.DEFINE_string("run_dir", "runs/default", "Output folder.")
flags.DEFINE_bool("resume", False, "Continue from the latest checkpoint in --run_dir.")
flags.DEFINE_bool("overwrite", False, "Replace the run already in --run_dir (its config, "
                  "vocabulary, checkpoints, results and logs; nothing else there). Without it "
                  "(or --resume), a --run_dir holding a run is refused.")
flags.DEFINE_integer("eval_every", 1, "Validation retrieval every N epochs (0: only at the end).")
flags.DEFINE_string("cpu_threads", "auto", "Thread pools when training on CPU only: 'auto' runs "
                    "ops one thread each and max(2, cores) ops side by side (intra-op "
                    "max(1, cores // 4), inter-op = cores; docs/training.md says why); "
                    "'default' keeps TensorFlow's; or INTRA,INTER.")
flags.DEFINE_string("profile_steps", "", "FIRST,LAST: record a TensorBoard profile of these "
                    "training steps (1-based, e.g. 10,15) to RUN_DIR/logs/train; open "
                    "TensorBoard's Profile tab.")
flags.DEFINE_integer("eval_batch_size", 64, "Videos per batch when embedding for evaluation.",
                     lower_bound=1)
flags.DEFINE_enum("strategy", "default", STRATEGIES,
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("projector_max", 2000, "Validation videos in the Embedding Projector (0: off).")
flags.DEFINE_integer("verbose", 1, "1: a progress bar within each epoch and one line per epoch; "
                     "2: the epoch lines only; 0: silent.")

# The flags a run records in run_config.json: the loss options and the attention options come
# from their owners (HSELoss, the encoder registry), each with a flag of the same name above.
CONFIG_FLAGS = [
    "dataset", "train_annotations", "val_annotations", "train_subset", "val_subset", "features",
    "feature_layout", "cache_features", "feature_dim", "word_vectors", "word_dim",
    "min_word_count",
    "max_frames", "on_bad_input", "sort_by_time", "demo_dir", "action_labels", "model", "hidden",
    "flat_context", *LOSS_OPTIONS, "epochs", "batch_size", "lr", "lr_decay_every",
    "lr_decay_factor", "clipnorm", "global_clipnorm", "seed", "eval_every", "mixed_precision",
    "bucket_window", "gru_implementation", "encoder", "low_encoder", "high_encoder",
    *ATTENTION_OPTIONS]


def config_from_flags():
    return {name: FLAGS[name].value for name in CONFIG_FLAGS}


PROFILER_MODULE = "tensorboard_plugin_profile"  # the extra hse_tf[profile] installs it


def parse_profile_steps(text):
    """'10,15' -> (10, 15); '' -> None."""
    if not text:
        return None
    try:
        first, last = (int(x) for x in text.split(","))
    except ValueError:
        raise app.UsageError(f"--profile_steps wants FIRST,LAST (e.g. 10,15), got {text!r}")
    if not 1 <= first <= last:
        raise app.UsageError(f"--profile_steps: need 1 <= FIRST <= LAST, got {text!r}")
    cli.require_extra("profile", PROFILER_MODULE, what="--profile_steps")
    return first, last


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cfg = config_from_flags()
    from hse_tf.training.runs import check_config  # bad values: one line, before any work
    check_config(cfg)
    if cfg["dataset"] != "demo" and not FLAGS.resume:
        missing = [k for k in ("train_annotations", "features", "word_vectors") if not cfg[k]]
        if missing:
            raise app.UsageError("missing flags: " + ", ".join("--" + k for k in missing))
    threads = cli.configure_cpu_threads(FLAGS.cpu_threads)
    if threads:
        logging.info("CPU threads: %d per op, %d ops at once (--cpu_threads)", *threads)
    profile_steps = parse_profile_steps(FLAGS.profile_steps)
    from hse_tf.training import train
    results = train(cfg, FLAGS.run_dir, resume=FLAGS.resume, strategy_name=FLAGS.strategy,
                    verbose=FLAGS.verbose, deterministic=FLAGS.deterministic,
                    eval_batch_size=FLAGS.eval_batch_size, projector_max=FLAGS.projector_max,
                    profile_steps=profile_steps, overwrite=FLAGS.overwrite)
    if results:
        from hse_tf.evaluation.tables import format_table
        print(format_table(results, f"final validation retrieval ({FLAGS.run_dir})"))
    sys.stdout.flush()


if __name__ == "__main__":
    cli.run_absl(main)
