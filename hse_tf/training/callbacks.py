"""The trainer's per-epoch work: shuffle order, validation retrieval, logs, checkpoints."""

import csv
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from hse_tf.training import checkpoints
from hse_tf.data.atomic import atomic_path
from hse_tf.evaluation import EVALUATORS, embed_fn, embed_split


class NonFiniteLoss(ValueError):
    """Training produced a NaN or Inf loss: the run stops before saving anything of it."""


class TrainMonitor(keras.callbacks.Callback):
    """Sets each epoch's shuffle, evaluates retrieval on the validation split, writes TensorBoard
    summaries (train loss terms, learning rate, R@K, hparams, projector), saves a checkpoint, and
    prints one progress line per epoch."""

    def __init__(self, run_dir, cfg, order, val_split, feature_dim, eval_batch_size,
                 projector_max, steps_per_epoch=None, verbose=1):
        super().__init__()
        self.steps_per_epoch, self.verbose = steps_per_epoch, verbose
        self._bar = None
        self.run_dir, self.cfg, self.order = run_dir, cfg, order
        self.val_split, self.feature_dim = val_split, feature_dim
        self.eval_batch_size, self.projector_max = eval_batch_size, projector_max
        logs = os.path.join(run_dir, "logs")
        self.train_writer = tf.summary.create_file_writer(os.path.join(logs, "train"))
        self.val_writer = tf.summary.create_file_writer(os.path.join(logs, "validation"))
        self.last_metrics = None
        self._epoch = 0
        self._embed = None
        self._t0 = time.time()

    def on_train_begin(self, logs=None):
        from tensorboard.plugins.hparams import api as hp
        hparams = {k: v for k, v in self.cfg.items()
                   if isinstance(v, (bool, int, float, str)) and v is not None}
        with self.train_writer.as_default():
            hp.hparams(hparams, trial_id=os.path.basename(os.path.abspath(self.run_dir)))
        self._t0 = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.order.epoch = epoch
        self._epoch = epoch
        self._epoch_t0 = time.time()
        if self.verbose == 1:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=self.steps_per_epoch, unit="step", leave=False,
                             desc=f"epoch {epoch + 1}/{self.params.get('epochs')}",
                             dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        loss = None
        if logs and "loss" in logs:
            loss = float(np.asarray(logs["loss"]).reshape(-1)[0])
            if not np.isfinite(loss):
                # Keras' TerminateOnNaN only stops quietly; a diverged run must fail, before its
                # epoch's checkpoint and validation.
                self._close_bar()
                if self.model is not None:
                    self.model.stop_training = True
                raise NonFiniteLoss(
                    f"training loss is {loss} at epoch {self._epoch + 1}, step {batch + 1}: the "
                    f"model diverged (lower --lr, or set --global_clipnorm); nothing of this "
                    f"epoch was saved")
        if self._bar is not None:
            self._bar.update(1)
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def _close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _evaluate(self):
        if self.val_split is None:
            return None
        return dict(EVALUATORS["retrieval"](self.eval_batch_size).run(
            self.model, self.val_split, self._embed_fn()))

    def _embed_fn(self):
        if self._embed is None:
            self._embed = embed_fn(self.model, self.feature_dim)
        return self._embed

    def on_epoch_end(self, epoch, logs=None):
        self._close_bar()
        # float(): multi-worker logs arrive as shape-[1] arrays (see HSEModel._track).
        logs = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in (logs or {}).items()}
        opt = self.model.optimizer
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
        with self.train_writer.as_default():
            for k, v in logs.items():
                tf.summary.scalar(f"loss/{k}", v, step=epoch + 1)
            tf.summary.scalar("learning_rate", lr, step=epoch + 1)
        every = self.cfg.get("eval_every", 1)
        last = epoch + 1 == self.params.get("epochs", epoch + 1)
        metrics_line = ""
        if self.val_split is not None and (last or (every and (epoch + 1) % every == 0)):
            metrics = self._evaluate()  # the evaluator registry's 'retrieval'
            self.last_metrics = metrics
            with self.val_writer.as_default():
                for direction, m in metrics.items():
                    for k, v in m.items():
                        tf.summary.scalar(f"{direction}/{k}", v, step=epoch + 1)
            metrics_line = (f" | val p2v R@1 {metrics['p2v']['R@1']:.1f} "
                            f"v2p R@1 {metrics['v2p']['R@1']:.1f}")
            if last and self.projector_max:
                self._projector(embed_split(self.model, self.val_split, self.eval_batch_size,
                                            self._embed_fn()))
        self.train_writer.flush()
        self.val_writer.flush()
        checkpoints.save(self.run_dir, epoch + 1, self.model,
                         {"step": int(opt.iterations.numpy()), "learning_rate": lr,
                          "logs": {k: float(v) for k, v in logs.items()},
                          "val": self.last_metrics})
        if not self.verbose:
            return
        print(f"epoch {epoch + 1}/{self.params.get('epochs')} loss {logs.get('loss', float('nan')):.4f}"
              f"{metrics_line} | lr {lr:.1e} | {time.time() - self._epoch_t0:.1f}s epoch, "
              f"{time.time() - self._t0:.0f}s total", flush=True)

    def on_train_end(self, logs=None):
        self._close_bar()

    def final_metrics(self, model):
        """The last validation metrics (evaluated now if no epoch did), also written as
        results.json."""
        if self.last_metrics is None and self.val_split is not None:
            self.set_model(model)  # a Keras 3 callback's model is set, not assigned
            self.last_metrics = self._evaluate()
        if self.last_metrics is not None:
            with atomic_path(os.path.join(self.run_dir, checkpoints.RESULTS)) as tmp:
                with open(tmp, "w") as f:
                    json.dump(self.last_metrics, f, indent=1)
        return self.last_metrics or {}

    def _projector(self, emb):
        """The paper's t-SNE view: validation video embeddings in TensorBoard's projector."""
        from tensorboard.plugins import projector
        folder = os.path.join(self.run_dir, "logs", "projector")
        os.makedirs(folder, exist_ok=True)
        n = min(self.projector_max, len(emb["video"]))
        labels = _action_labels(self.cfg.get("action_labels"))
        with open(os.path.join(folder, "metadata.tsv"), "w", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(["video_id", "first_sentence", "action"])
            for i in emb["index"][:n]:
                ann = self.val_split.annotations[int(i)]
                w.writerow([ann.video_id, ann.sentences[0].strip().replace("\t", " "),
                            labels.get(ann.video_id, "unknown")])
        var = tf.Variable(emb["video"][:n], name="video_embedding")
        tf.train.Checkpoint(embedding=var).save(os.path.join(folder, "embedding.ckpt"))
        config = projector.ProjectorConfig()
        entry = config.embeddings.add()
        entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
        entry.metadata_path = "metadata.tsv"
        projector.visualize_embeddings(folder, config)


def _action_labels(path):
    if not path:
        return {}
    from hse_tf.data.annotations import read_tsp_labels, video_labels
    try:
        return video_labels(read_tsp_labels(path))
    except Exception as e:  # labels only decorate the projector; training goes on without them
        logging.warning("action labels not loaded from %s: %s", path, e)
        return {}


class ProfileSteps(keras.callbacks.Callback):
    """Records a TensorBoard profile (tf.profiler) of global training steps first..last
    (1-based) into `logdir`/plugins/profile/ (TensorBoard's Profile tab, from
    tensorboard-plugin-profile)."""

    def __init__(self, logdir, first, last):
        super().__init__()
        self.logdir, self.first, self.last = logdir, first, last
        self._on = False

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())  # steps finished so far

    def on_train_batch_begin(self, batch, logs=None):
        if not self._on and self.first <= self._step() + 1 <= self.last:
            tf.profiler.experimental.start(self.logdir)
            self._on = True

    def on_train_batch_end(self, batch, logs=None):
        if self._on and self._step() >= self.last:
            self._stop()

    def on_train_end(self, logs=None):
        if self._on:
            self._stop()

    def _stop(self):
        tf.profiler.experimental.stop()
        self._on = False
        logging.info("profile of steps %d-%d written to %s (TensorBoard: Profile tab)",
                     self.first, self.last, self.logdir)
