"""Trains HSE / FSE:  python -m hse_tf.train --flagfile=configs/anet.flags

Writes to --run_dir: run_config.json, vocab.txt, ckpt-EEEE/ per epoch (atomic), checkpoint.json,
results.json (final validation metrics) and TensorBoard logs under logs/ (loss terms, learning rate,
R@K per epoch, hyperparameters, and an Embedding Projector view of the validation videos).
"""

import sys

from absl import app, flags, logging

from hse_tf import cli

from hse_tf.training.run_config import RUN_CONFIGS, run_config_keys
from hse_tf.training.trainer import STRATEGIES, TrainOptions

FLAGS = flags.FLAGS

# What to train: one flag per option of the run's typed configs (training.run_config.RUN_CONFIGS:
# data, model, attention, loss, training), recorded in run_config.json under the same names.
for config in RUN_CONFIGS:
    cli.define_flags(config)
# How to run it (not recorded in the run).
flags.DEFINE_bool("deterministic", False, "Deterministic ops (slower; exact reruns).")
flags.DEFINE_string("run_dir", "runs/default", "Output folder.")
flags.DEFINE_bool("resume", False, "Continue from the latest checkpoint in --run_dir.")
flags.DEFINE_bool("overwrite", False, "Replace the run already in --run_dir (its config, "
                  "vocabulary, checkpoints, results and logs; nothing else there). Without it "
                  "(or --resume), a --run_dir holding a run is refused.")
flags.DEFINE_string("cpu_threads", "auto", "Thread pools when training on CPU only: 'auto' runs "
                    "ops one thread each and max(2, cores) ops side by side (intra-op "
                    "max(1, cores // 4), inter-op = cores; docs/training.md says why); "
                    "'default' keeps TensorFlow's; or INTRA,INTER.")
flags.DEFINE_string("profile_steps", "", "FIRST,LAST: record a TensorBoard profile of these "
                    "training steps (1-based, e.g. 10,15) to RUN_DIR/logs/train; open "
                    "TensorBoard's Profile tab.")
flags.DEFINE_integer("eval_batch_size", TrainOptions.eval_batch_size,
                     "Videos per batch when embedding for evaluation.", lower_bound=1)
flags.DEFINE_enum("strategy", "default", STRATEGIES,
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("projector_max", TrainOptions.projector_max,
                     "Validation videos in the Embedding Projector (0: off).")
flags.DEFINE_integer("verbose", 1, "1: a progress bar within each epoch and one line per epoch; "
                     "2: the epoch lines only; 0: silent.")

CONFIG_FLAGS = run_config_keys()  # the flags a run records in run_config.json


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
