"""Trains HSE / FSE:  python -m hse_tf.train --flagfile=configs/anet.flags

Writes to --run_dir: run_config.json, vocab.txt, ckpt-EEEE/ per epoch (atomic), checkpoint.json,
results.json (final validation metrics) and TensorBoard logs under logs/ (loss terms, learning rate,
R@K per epoch, hyperparameters, and an Embedding Projector view of the validation videos).
"""

import json
import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS

# Data.
flags.DEFINE_enum("dataset", "activitynet", ["activitynet", "didemo", "youcook2", "demo"],
                  "Annotation layout ('demo' writes and uses the built-in demo dataset).")
flags.DEFINE_string("train_annotations", None, "Training annotation file.")
flags.DEFINE_string("val_annotations", None, "Validation annotation file.")
flags.DEFINE_string("train_subset", "training", "YouCook2 subset used for training.")
flags.DEFINE_string("val_subset", "validation", "YouCook2 subset used for validation.")
flags.DEFINE_string("features", None, "Feature file or folder.")
flags.DEFINE_enum("feature_layout", "c3d_hdf5", ["c3d_hdf5", "inception_npz", "didemo_hdf5", "hdf5"],
                  "Layout of --features.")
flags.DEFINE_bool("cache_features", False, "Hold the features in memory after the first read "
                  "(when they fit): later epochs and validation do not touch the disk.")
flags.DEFINE_integer("feature_dim", 0, "Expected feature dimension (0: read from the file).")
flags.DEFINE_string("word_vectors", None, "GloVe .txt or {words, vectors} .npz.")
flags.DEFINE_integer("min_word_count", 1, "Words seen fewer times in training map to UNK.")
flags.DEFINE_integer("max_frames", 80, "Clips and flat videos longer than this are subsampled.")
flags.DEFINE_enum("on_bad_input", "error", ["error", "skip"],
                  "Bad videos/sentences: stop with an error, or skip and count them.")
flags.DEFINE_bool("sort_by_time", True, "Put each video's (segment, sentence) pairs in time order.")
flags.DEFINE_string("demo_dir", "data/demo", "Where --dataset=demo writes its files.")
flags.DEFINE_string("action_labels", None, "Optional TSP CSV: action labels for the projector.")
# Model.
flags.DEFINE_enum("model", "hse", ["hse", "fse"], "Model from the registry.")
flags.DEFINE_integer("hidden", 1024, "GRU hidden size of every encoder.")
flags.DEFINE_enum("encoder", "gru", ["gru", "attention"], "Encoder of every level: the "
                  "paper's GRU, or pre-norm Transformer blocks (hse_tf.layers.AttentionEncoder).")
flags.DEFINE_enum("low_encoder", None, ["gru", "attention"], "Frames -> clip and words -> "
                  "sentence encoder (default: --encoder).")
flags.DEFINE_enum("high_encoder", None, ["gru", "attention"], "Clips -> video and sentences -> "
                  "paragraph encoder (default: --encoder).")
flags.DEFINE_integer("layers", 1, "Attention encoders: Transformer blocks.", lower_bound=1)
flags.DEFINE_integer("heads", 4, "Attention encoders: heads (must divide --hidden).",
                     lower_bound=1)
flags.DEFINE_integer("ff_dim", 0, "Attention encoders: feed-forward width (0: 2 x --hidden).",
                     lower_bound=0)
flags.DEFINE_float("dropout", 0.1, "Attention encoders: dropout of attention and residuals.",
                   lower_bound=0.0, upper_bound=0.9)
flags.DEFINE_enum("positions", "sinusoidal", ["sinusoidal", "learned"],
                  "Attention encoders: position encoding.")
flags.DEFINE_enum("pooling", "mean_max", ["mean_max", "cls"], "Attention encoders: mean + max "
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
flags.DEFINE_integer("lr_decay_every", 10, "Epochs between learning-rate decays.")
flags.DEFINE_float("lr_decay_factor", 0.1, "Learning-rate decay factor.")
flags.DEFINE_float("clipnorm", 0.0, "Clip EACH variable's gradient to this norm separately "
                   "(0: off, the paper's setting).")
flags.DEFINE_float("global_clipnorm", 0.0, "Clip the global norm of all gradients together, the "
                   "common choice (0: off).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "bfloat16", "float16"],
                  "Compute the towers in bfloat16 or float16 (variables and losses stay float32; "
                  "float16 adds loss scaling). For GPUs (and CPUs with bfloat16 units).")
flags.DEFINE_enum("gru_implementation", "auto", ["auto", "packed", "keras"],
                  "GRU code: 'packed' (hse_tf/layers/packed_gru.py: no steps spent on padding, "
                  "a fast backward pass: 2.3x faster paper-size training on 2 CPU cores), "
                  "'keras' (keras.layers.GRU: cuDNN on a GPU), 'auto' = keras where TensorFlow "
                  "sees a GPU, else packed. Same maths and weights: checkpoints work with both.")
flags.DEFINE_integer("bucket_window", 0, "Length bucketing: sort each window of this many "
                     "batches of the shuffled epoch by paragraph length, cut it into batches and "
                     "draw the batches in random order (0, the default: plain shuffling; "
                     "measured on 2 CPU cores it saved little and raised peak memory 43%).")
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
                    "max(1, cores // 4), inter-op = cores), which bench/train_throughput.py "
                    "measured 1.17-1.27x faster to train than TensorFlow's default on 2 "
                    "cores; 'default' keeps TensorFlow's; or INTRA,INTER.")
flags.DEFINE_string("profile_steps", "", "FIRST,LAST: record a TensorBoard profile of these "
                    "training steps (1-based, e.g. 10,15) to RUN_DIR/logs/train; open "
                    "TensorBoard's Profile tab.")
flags.DEFINE_integer("eval_batch_size", 64, "Videos per batch when embedding for evaluation.",
                     lower_bound=1)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("projector_max", 2000, "Validation videos in the Embedding Projector (0: off).")
flags.DEFINE_integer("verbose", 1, "1: a progress bar within each epoch and one line per epoch; "
                     "2: the epoch lines only; 0: silent.")

CONFIG_FLAGS = [
    "dataset", "train_annotations", "val_annotations", "train_subset", "val_subset", "features",
    "feature_layout", "cache_features", "feature_dim", "word_vectors", "min_word_count", "max_frames", "on_bad_input",
    "sort_by_time", "demo_dir", "action_labels", "model", "hidden", "flat_context", "margin_high",
    "margin_low", "gamma", "hardest_negative", "w_match_high", "w_match_low", "w_cluster_high",
    "w_cluster_low", "w_match_flat", "tau_high", "tau_low", "weak_low", "epochs", "batch_size",
    "lr", "lr_decay_every", "lr_decay_factor", "clipnorm", "global_clipnorm", "seed", "eval_every",
    "mixed_precision", "bucket_window", "gru_implementation", "encoder", "low_encoder",
    "high_encoder", "layers", "heads", "ff_dim", "dropout", "positions", "pooling", "contextual",
    "w_cycle"]


def config_from_flags():
    return {name: FLAGS[name].value for name in CONFIG_FLAGS}


def make_strategy(name):
    import tensorflow as tf
    if name == "mirrored":
        # All GPUs; on a machine without GPUs, every logical CPU device (so that the strategy can
        # be exercised on CPU with tf.config.set_logical_device_configuration).
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def chief_and_task(strategy):
    """(is this process the chief, task id): under MultiWorkerMirroredStrategy only the chief
    (or worker 0 when there is no chief) writes the run; other workers write to a scratch folder
    they delete at the end."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    cluster = resolver.cluster_spec().as_dict()
    chief = resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster)
    return chief, resolver.task_id


RUN_FILES = ("run_config.json", "vocab.txt", "checkpoint.json", "results.json", "logs")


def claim_run_dir(run_dir, resume=False, overwrite=False):
    """Refuses a --run_dir that holds a run, unless resuming it; with `overwrite`, removes that
    run's own files (RUN_FILES and ckpt-NNNN folders) and nothing else."""
    import re
    import shutil

    from hse_tf.data.outputs import OutputError
    if resume or not os.path.isdir(run_dir):
        return
    if not any(os.path.exists(os.path.join(run_dir, f))
               for f in ("run_config.json", "checkpoint.json")):
        return
    if not overwrite:
        raise OutputError(f"{run_dir}: already holds a training run; pass --resume to continue "
                          f"it, --overwrite to replace it, or choose another --run_dir")
    for name in os.listdir(run_dir):
        path = os.path.join(run_dir, name)
        if name in RUN_FILES or re.fullmatch(r"ckpt-\d{4,}", name) or re.fullmatch(
                r"\.tmp-(ckpt-\d{4,}|run_config\.json|checkpoint\.json|results\.json)-.*",
                name):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)


def train(cfg, run_dir, resume=False, strategy_name="default", verbose=1, deterministic=False,
          eval_batch_size=64, projector_max=2000, profile_steps=None, overwrite=False):
    """Runs training; returns the final validation metrics (or {} without a validation split).

    profile_steps: (first, last) global steps (1-based) to record a TensorBoard profile of,
    written to RUN_DIR/logs/train/plugins/profile/.

    A run that fails before its first checkpoint leaves no run folder behind (if it made it).
    A run_dir that already holds a run is refused unless `resume` or `overwrite`.
    """
    import shutil
    if int(cfg.get("epochs", 1)) < 1:
        raise ValueError(f"--epochs must be >= 1, got {cfg['epochs']}")
    claim_run_dir(run_dir, resume, overwrite)
    fresh = not os.path.exists(run_dir)
    try:
        return _train(cfg, run_dir, resume, strategy_name, verbose, deterministic,
                      eval_batch_size, projector_max, profile_steps)
    except BaseException:
        from hse_tf import checkpoints
        if fresh and os.path.isdir(run_dir) and checkpoints.latest(run_dir) is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train(cfg, run_dir, resume, strategy_name, verbose, deterministic, eval_batch_size,
           projector_max, profile_steps=None):
    import tensorflow as tf

    from hse_tf import checkpoints, experiment
    from hse_tf.data.atomic import atomic_path
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.pipeline import EpochOrder, make_dataset
    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.optim import make_optimizer
    from hse_tf.train_callbacks import ProfileSteps, TrainMonitor

    last = checkpoints.latest(run_dir) if resume else None
    if last is not None:
        with open(os.path.join(run_dir, "run_config.json")) as f:
            saved = json.load(f)
        cfg = {**saved, "epochs": cfg["epochs"]}
        state = checkpoints.read_state(last)
        if state["epoch"] >= cfg["epochs"]:
            # Nothing to train: report the finished run (its saved results) and stop.
            results = checkpoints.read_results(run_dir)
            if verbose:
                print(f"{run_dir}: run complete, trained for {state['epoch']} epochs (raise "
                      f"--epochs to train on)", flush=True)
            if results is not None or not cfg.get("val_annotations"):
                return results or {}
        logging.info("Resuming from %s", last)
        vocab = Vocabulary.load(os.path.join(run_dir, "vocab.txt"))
    else:
        cfg = experiment.prepare_demo(cfg)
    os.makedirs(run_dir, exist_ok=True)
    experiment.set_seeds(cfg["seed"])
    if deterministic:
        tf.config.experimental.enable_op_determinism()

    issues = IssueLog(cfg["on_bad_input"])
    if last is None:
        vocab = experiment.build_vocab(cfg, issues)
    train_split = experiment.make_split(cfg, "train", vocab, issues)
    val_split = (experiment.make_split(cfg, "val", vocab, IssueLog(cfg["on_bad_input"]))
                 if cfg.get("val_annotations") else None)
    feature_dim = train_split.features(0).shape[1]
    logging.info("train: %d videos, %d sentences; val: %s videos; vocabulary %d words; features "
                 "%d-d", len(train_split), sum(len(a.sentences) for a in train_split.annotations),
                 len(val_split) if val_split else 0, len(vocab), feature_dim)

    strategy = make_strategy(strategy_name)
    replicas = strategy.num_replicas_in_sync
    if cfg["batch_size"] % replicas:
        raise ValueError(f"batch_size {cfg['batch_size']} must divide by {replicas} replicas")
    per_replica = cfg["batch_size"] // replicas
    logging.info("strategy %s: %d replica(s), %d videos per replica per step", strategy_name,
                 replicas, per_replica)
    chief, task_id = chief_and_task(strategy)
    out_dir = run_dir if chief else os.path.join(run_dir, f".worker-{task_id}")
    os.makedirs(out_dir, exist_ok=True)
    steps_per_epoch = len(train_split) // cfg["batch_size"] or 1

    with strategy.scope():
        if last is None:
            words_matrix, _ = experiment.word_vector_matrix(
                cfg, vocab, [s for a in train_split.annotations for s in a.sentences])
            word_dim = words_matrix.shape[1]
        else:
            word_dim = cfg["word_dim"]
        cfg = {**cfg, "feature_dim": feature_dim, "word_dim": word_dim}
        if last is None:  # features from `python -m hse_tf.features`: export hse_features too
            from hse_tf.features.extractor import read_settings
            cfg["feature_extraction"] = read_settings(cfg["feature_layout"], cfg["features"])
        model = experiment.model_from_config(cfg, feature_dim, len(vocab), word_dim,
                                             cfg.get("mixed_precision", "none"))
        model.compile(optimizer=make_optimizer(cfg, steps_per_epoch))
        initial_epoch = 0
        if last is not None:
            state = checkpoints.restore(last, model)
            initial_epoch = state["epoch"]
        else:
            model.text_tower.set_word_vectors(words_matrix)
            vocab.save(os.path.join(out_dir, "vocab.txt"))
            with atomic_path(os.path.join(out_dir, "run_config.json")) as tmp:
                with open(tmp, "w") as f:
                    json.dump(cfg, f, indent=1)

    window = cfg.get("bucket_window", 0)  # runs from before bucketing resume unbucketed
    order = EpochOrder(len(train_split), True, cfg["seed"],
                       lengths=[sum(len(s) for s in w) for w in train_split.word_ids]
                       if window else None, batch_size=cfg["batch_size"], window=window)
    if replicas == 1:
        dataset, _ = make_dataset(train_split, per_replica, shuffle=True, seed=cfg["seed"],
                                  drop_remainder=True, feature_dim=feature_dim, order=order)
    else:
        def per_replica_input(ctx):
            # Keras iterates a distributed dataset once across all epochs (steps_per_epoch).
            ds, _ = make_dataset(train_split, per_replica, drop_remainder=True,
                                 feature_dim=feature_dim, order=order,
                                 shard=(ctx.input_pipeline_id, ctx.num_input_pipelines),
                                 epochs=(initial_epoch, cfg["epochs"]))
            return ds
        dataset = strategy.distribute_datasets_from_function(per_replica_input)

    monitor = TrainMonitor(out_dir, cfg, order, val_split, feature_dim, eval_batch_size,
                           projector_max, steps_per_epoch=steps_per_epoch, verbose=verbose)
    if initial_epoch < cfg["epochs"]:
        # verbose=0: the monitor prints the progress bar and one line per epoch, not Keras.
        # shuffle=False: the dataset shuffles itself (EpochOrder); Keras cannot shuffle it.
        model.fit(dataset, epochs=cfg["epochs"], initial_epoch=initial_epoch,
                  steps_per_epoch=steps_per_epoch if replicas > 1 else None,
                  callbacks=[monitor] + ([ProfileSteps(
                      os.path.join(out_dir, "logs", "train"), *profile_steps)]
                      if profile_steps else []), verbose=0, shuffle=False)
    if issues.counts:
        logging.warning("Input problems (train): %s", issues.summary())
    results = monitor.final_metrics(model)
    if not chief:
        import shutil
        shutil.rmtree(out_dir, ignore_errors=True)
    return results


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
    import importlib.util
    if importlib.util.find_spec(PROFILER_MODULE) is None:
        raise app.UsageError("--profile_steps needs TensorBoard's profiler, an optional part "
                             "of hse_tf: pip install 'hse_tf[profile]'")
    return first, last


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cfg = config_from_flags()
    if cfg["dataset"] != "demo" and not FLAGS.resume:
        missing = [k for k in ("train_annotations", "features", "word_vectors") if not cfg[k]]
        if missing:
            raise app.UsageError("missing flags: " + ", ".join("--" + k for k in missing))
    from hse_tf.cli import configure_cpu_threads
    threads = configure_cpu_threads(FLAGS.cpu_threads)
    if threads:
        logging.info("CPU threads: %d per op, %d ops at once (--cpu_threads)", *threads)
    results = train(cfg, FLAGS.run_dir, FLAGS.resume, FLAGS.strategy, FLAGS.verbose,
                    FLAGS.deterministic, FLAGS.eval_batch_size, FLAGS.projector_max,
                    parse_profile_steps(FLAGS.profile_steps), FLAGS.overwrite)
    if results:
        from hse_tf.evaluation import format_table
        print(format_table(results, f"final validation retrieval ({FLAGS.run_dir})"))
    sys.stdout.flush()


if __name__ == "__main__":
    from hse_tf import cli
    cli.run_absl(main)
