"""The trainer: a run config (flag values) in, a run folder out (hse_tf.training.checkpoints).

    train(cfg, run_dir, resume=False, overwrite=False, strategy_name="default", verbose=1, ...)

Steps, each its own function: claim the folder, set up the run (fresh or resumed), read the
splits, build the model under the distribution strategy, build the input, fit.
"""

import dataclasses
import json
import os
import re
import shutil

from absl import logging

from hse_tf.data.options import EVAL_BATCH_SIZE
from hse_tf.training import checkpoints


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """How to run a training (not what to train: that is the run config)."""
    resume: bool = False
    overwrite: bool = False
    strategy_name: str = "default"
    verbose: int = 1
    deterministic: bool = False
    eval_batch_size: int = EVAL_BATCH_SIZE
    projector_max: int = 2000  # validation videos in the Embedding Projector (0: off)
    profile_steps: tuple = None  # (first, last) global steps, 1-based


STRATEGIES = ("default", "mirrored", "multi_worker")  # tf.distribute strategies by name


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
    if name != "default":
        raise ValueError(f"unknown strategy {name!r}; choose from {STRATEGIES}")
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


def claim_run_dir(run_dir, resume=False, overwrite=False):
    """Refuses a --run_dir that holds a run, unless resuming it; with `overwrite`, removes that
    run's own files (checkpoints.RUN_FILES and ckpt-NNNN folders) and nothing else."""
    from hse_tf.data.outputs import OutputError
    if resume or not os.path.isdir(run_dir):
        return
    if not any(os.path.exists(os.path.join(run_dir, f))
               for f in (checkpoints.RUN_CONFIG, checkpoints.POINTER)):
        return
    if not overwrite:
        raise OutputError(f"{run_dir}: already holds a training run; pass --resume to continue "
                          f"it, --overwrite to replace it, or choose another --run_dir")
    ours = "|".join(re.escape(f) for f in checkpoints.RUN_FILES if f != checkpoints.LOGS)
    pattern = checkpoints.CHECKPOINT_NAME.pattern
    for name in os.listdir(run_dir):
        path = os.path.join(run_dir, name)
        if name in checkpoints.RUN_FILES or checkpoints.CHECKPOINT_NAME.fullmatch(name) or (
                re.fullmatch(rf"\.tmp-({pattern}|{ours})-.*", name)):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)


def train(cfg, run_dir, resume=False, strategy_name="default", verbose=1, deterministic=False,
          eval_batch_size=TrainOptions.eval_batch_size,
          projector_max=TrainOptions.projector_max, profile_steps=None, overwrite=False):
    """Runs training; returns the final validation metrics (or {} without a validation split).

    profile_steps: (first, last) global steps (1-based) to record a TensorBoard profile of,
    written to RUN_DIR/logs/train/plugins/profile/.

    A run that fails before its first checkpoint leaves no run folder behind (if it made it).
    A run_dir that already holds a run is refused unless `resume` or `overwrite`.
    """
    options = TrainOptions(resume=resume, overwrite=overwrite, strategy_name=strategy_name,
                           verbose=verbose, deterministic=deterministic,
                           eval_batch_size=eval_batch_size, projector_max=projector_max,
                           profile_steps=profile_steps)
    from hse_tf.training.runs import check_config
    check_config(cfg)
    claim_run_dir(run_dir, resume, overwrite)
    fresh = not os.path.exists(run_dir)
    try:
        return _train(cfg, run_dir, options)
    except BaseException:
        if fresh and os.path.isdir(run_dir) and checkpoints.latest(run_dir) is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


@dataclasses.dataclass
class _Run:
    """What setting up a run gives the later steps."""
    cfg: dict
    last: str = None  # the checkpoint resumed from
    vocab: object = None
    done: dict = None  # a finished run's results: nothing to train


def _train(cfg, run_dir, options):
    # First: a multi-worker strategy configures collective ops, which TensorFlow allows only
    # before its first op (tokenising the vocabulary and the splits runs TensorFlow ops).
    strategy = make_strategy(options.strategy_name)
    run = _set_up(cfg, run_dir, options)
    if run.done is not None:
        return run.done
    from hse_tf.data.errors import IssueLog
    issues = IssueLog(run.cfg["on_bad_input"])
    train_split, val_split = _splits(run, issues)
    chief, task_id = chief_and_task(strategy)
    out_dir = run_dir if chief else os.path.join(run_dir, f".worker-{task_id}")
    os.makedirs(out_dir, exist_ok=True)
    model, initial_epoch, cfg = _build_model(run, train_split, strategy, out_dir)
    dataset, order, steps = _input(cfg, train_split, strategy, initial_epoch)
    results = _fit(model, cfg, dataset, order, steps, val_split, out_dir, initial_epoch,
                   strategy, options)
    if issues.counts:
        logging.warning("Input problems (train): %s", issues.summary())
    if not chief:
        shutil.rmtree(out_dir, ignore_errors=True)
    return results


def _set_up(cfg, run_dir, options):
    """A fresh run (the demo data written if asked), or the resumed run's saved config and
    vocabulary; seeds and determinism."""
    import tensorflow as tf

    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training import runs
    last = checkpoints.latest(run_dir) if options.resume else None
    vocab = None
    if last is not None:
        with open(os.path.join(run_dir, checkpoints.RUN_CONFIG)) as f:
            saved = json.load(f)
        cfg = {**saved, "epochs": cfg["epochs"]}
        state = checkpoints.read_state(last)
        if state["epoch"] >= cfg["epochs"]:
            # Nothing to train: report the finished run (its saved results) and stop.
            results = checkpoints.read_results(run_dir)
            if options.verbose:
                print(f"{run_dir}: run complete, trained for {state['epoch']} epochs (raise "
                      f"--epochs to train on)", flush=True)
            if results is not None or not cfg.get("val_annotations"):
                return _Run(cfg, last, done=results or {})
        logging.info("Resuming from %s", last)
        vocab = runs.load_vocab(run_dir, cfg)
    elif options.resume and checkpoints.holds_run(run_dir):
        # Never start over silently: the run's files are there but no checkpoint can be read.
        from hse_tf.data.outputs import OutputError
        raise OutputError(f"{run_dir}: --resume, but the run there has no complete checkpoint "
                          f"(ckpt-NNNN with {', '.join(checkpoints.CHECKPOINT_FILES)}); pass "
                          f"--overwrite to start it afresh")
    else:
        cfg = runs.prepare_demo(cfg)
    os.makedirs(run_dir, exist_ok=True)
    runs.set_seeds(cfg["seed"])
    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    return _Run(cfg, last, vocab)


def _splits(run, issues):
    """The training and validation splits (a fresh run builds its vocabulary first)."""
    from hse_tf.data.errors import IssueLog
    from hse_tf.training import runs
    cfg = run.cfg
    if run.last is None:
        run.vocab = runs.build_vocab(cfg, issues)
    train_split = runs.make_split(cfg, "train", run.vocab, issues)
    val_split = (runs.make_split(cfg, "val", run.vocab, IssueLog(cfg["on_bad_input"]))
                 if cfg.get("val_annotations") else None)
    logging.info("train: %d videos, %d sentences; val: %s videos; vocabulary %d words; features "
                 "%d-d", len(train_split), sum(len(a.sentences) for a in train_split.annotations),
                 len(val_split) if val_split else 0, len(run.vocab),
                 train_split.features(0).shape[1])
    return train_split, val_split


def _build_model(run, train_split, strategy, out_dir):
    """The compiled model under the strategy: restored from the checkpoint, or new with GloVe
    word vectors (and the run's config and vocabulary written). Returns (model, first epoch,
    the completed config)."""
    from hse_tf.data.atomic import atomic_path
    from hse_tf.features.extractor import read_settings
    from hse_tf.training import runs
    from hse_tf.training.optimizer import make_optimizer
    cfg, vocab = run.cfg, run.vocab
    replicas = strategy.num_replicas_in_sync
    if cfg["batch_size"] % replicas:
        raise ValueError(f"batch_size {cfg['batch_size']} must divide by {replicas} replicas")
    feature_dim = train_split.features(0).shape[1]
    steps_per_epoch = len(train_split) // cfg["batch_size"] or 1
    with strategy.scope():
        if run.last is None:
            words_matrix, _ = runs.word_vector_matrix(
                cfg, vocab, [s for a in train_split.annotations for s in a.sentences])
            word_dim = words_matrix.shape[1]
        else:
            word_dim = cfg["word_dim"]
        cfg = {**cfg, "feature_dim": feature_dim, "word_dim": word_dim}
        if run.last is None:  # features from `python -m hse_tf.features`: export hse_features too
            cfg["feature_extraction"] = read_settings(cfg["feature_layout"], cfg["features"])
        model = runs.model_from_config(cfg, feature_dim, len(vocab), word_dim,
                                       cfg.get("mixed_precision", "none"))
        cfg["model_config"] = model.get_config()  # runs are rebuilt with from_config
        model.compile(optimizer=make_optimizer(cfg, steps_per_epoch))
        # The optimizer's slots exist before the first step: otherwise they are made while the
        # step is traced, and TensorFlow traces the whole training step a second time
        # (bench/first_step.py). Same variables, same order as a checkpoint's restore.
        model.optimizer.build(model.trainable_variables)
        initial_epoch = 0
        if run.last is not None:
            initial_epoch = checkpoints.restore(run.last, model)["epoch"]
        else:
            model.text_tower.set_word_vectors(words_matrix)
            vocab.save(os.path.join(out_dir, checkpoints.VOCAB))
            with atomic_path(os.path.join(out_dir, checkpoints.RUN_CONFIG)) as tmp:
                with open(tmp, "w") as f:
                    json.dump(cfg, f, indent=1)
    return model, initial_epoch, cfg


def _input(cfg, train_split, strategy, initial_epoch):
    """(dataset, epoch order, steps per epoch): one input pipeline per replica under a
    multi-replica strategy, each reading its own shard of the epoch's order."""
    from hse_tf.data.pipeline import EpochOrder, make_dataset
    replicas = strategy.num_replicas_in_sync
    per_replica = cfg["batch_size"] // replicas
    logging.info("strategy: %d replica(s), %d videos per replica per step", replicas,
                 per_replica)
    window = cfg.get("bucket_window", 0)  # runs from before bucketing resume unbucketed
    order = EpochOrder(len(train_split), True, cfg["seed"],
                       lengths=[sum(len(s) for s in w) for w in train_split.word_ids]
                       if window else None, batch_size=cfg["batch_size"], window=window)
    feature_dim = cfg["feature_dim"]
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
    return dataset, order, len(train_split) // cfg["batch_size"] or 1


def _fit(model, cfg, dataset, order, steps_per_epoch, val_split, out_dir, initial_epoch,
         strategy, options):
    """Keras' fit with the monitor (progress, validation, checkpoints) and the profiler; the
    final validation metrics (results.json)."""
    from hse_tf.training.callbacks import ProfileSteps, TrainMonitor
    monitor = TrainMonitor(out_dir, cfg, order, val_split, cfg["feature_dim"],
                           options.eval_batch_size, options.projector_max,
                           steps_per_epoch=steps_per_epoch, verbose=options.verbose)
    callbacks = [monitor]
    if options.profile_steps:
        callbacks.append(ProfileSteps(os.path.join(out_dir, checkpoints.LOGS, "train"),
                                      *options.profile_steps))
    if initial_epoch < cfg["epochs"]:
        # verbose=0: the monitor prints the progress bar and one line per epoch, not Keras.
        # shuffle=False: the dataset shuffles itself (EpochOrder); Keras cannot shuffle it.
        model.fit(dataset, epochs=cfg["epochs"], initial_epoch=initial_epoch,
                  steps_per_epoch=(steps_per_epoch if strategy.num_replicas_in_sync > 1
                                   else None),
                  callbacks=callbacks, verbose=0, shuffle=False)
    return monitor.final_metrics(model)
