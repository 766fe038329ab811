"""A run folder's layout, and its per-epoch checkpoints: model weights with the optimizer's
state, and progress, written atomically.

Layout: RUN_DIR/ckpt-EEEE/{model.weights.h5, state.json} and RUN_DIR/checkpoint.json naming the
latest. Keras' weights file holds the compiled model's optimizer variables too, and
load_weights restores them into a built optimizer. (Checkpoints from before 2026-12-03 also
hold optimizer.npz, a second copy of the same variables; a resume from one still reads it.) A checkpoint folder appears whole or not at all (atomic rename), and the pointer
is updated only after it, so a run killed at any moment resumes from the last complete epoch.
"""

import json
import logging
import os
import re

import numpy as np

from hse_tf.data.atomic import atomic_dir, atomic_path

# The files of a run folder (the only place these names are spelled out).
POINTER = "checkpoint.json"  # names the latest checkpoint
RUN_CONFIG = "run_config.json"  # the run's flags, plus feature_dim and word_dim
VOCAB = "vocab.txt"
RESULTS = "results.json"  # the final validation metrics
LOGS = "logs"  # TensorBoard
RUN_FILES = (RUN_CONFIG, VOCAB, POINTER, RESULTS, LOGS)
CHECKPOINT_NAME = re.compile(r"ckpt-\d{4,}")
# A complete checkpoint holds these (every reader needs them).
CHECKPOINT_FILES = ("model.weights.h5", "state.json")


def checkpoint_name(epoch):
    return f"ckpt-{epoch:04d}"


def save(run_dir, epoch, model, state):
    name = checkpoint_name(epoch)
    with atomic_dir(os.path.join(run_dir, name)) as tmp:
        model.save_weights(os.path.join(tmp, "model.weights.h5"))  # optimizer included
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump({**state, "epoch": epoch}, f, indent=1)
    with atomic_path(os.path.join(run_dir, POINTER)) as tmp:
        with open(tmp, "w") as f:
            json.dump({"latest": name, "epoch": epoch}, f)
    return os.path.join(run_dir, name)


def holds_run(run_dir):
    """Whether `run_dir` holds (part of) a training run: its config or checkpoint pointer."""
    return any(os.path.exists(os.path.join(run_dir, f)) for f in (RUN_CONFIG, POINTER))


def is_complete(ckpt_dir):
    return all(os.path.isfile(os.path.join(ckpt_dir, f)) for f in CHECKPOINT_FILES)


def newest_complete(run_dir):
    """The complete ckpt-NNNN folder of the highest epoch in run_dir, or None."""
    found = [(int(n.split("-")[1]), n) for n in os.listdir(run_dir)
             if CHECKPOINT_NAME.fullmatch(n) and is_complete(os.path.join(run_dir, n))]
    return os.path.join(run_dir, max(found)[1]) if found else None


def latest(run_dir):
    """Path of the latest complete checkpoint in run_dir, or None when it has none.

    The pointer names it; when the checkpoint it names is missing or incomplete (deleted by
    hand, a copy that lost files), the newest complete ckpt-NNNN folder is used instead, with
    a warning, so a resume continues from there rather than starting over."""
    pointer = os.path.join(run_dir, POINTER)
    if not os.path.exists(pointer):
        return None
    try:
        with open(pointer) as f:
            name = json.load(f)["latest"]
        if not isinstance(name, str) or os.path.basename(name) != name:
            raise ValueError(f"'latest' is {name!r}, not a checkpoint folder name")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{pointer}: corrupt checkpoint pointer ({e})") from None
    path = os.path.join(run_dir, name)
    if is_complete(path):
        return path
    found = newest_complete(run_dir)
    if found is not None:
        logging.warning("%s names %s, which is missing or incomplete; using %s, the newest "
                        "complete checkpoint", pointer, name, os.path.basename(found))
    return found


def resolve(path):
    """A checkpoint folder, or a run folder (-> its latest checkpoint)."""
    if os.path.exists(os.path.join(path, "model.weights.h5")):
        return path
    found = latest(path)
    if found is None:
        raise FileNotFoundError(f"no checkpoint in {path} (expected {POINTER} or model.weights.h5)")
    return found


def read_state(ckpt_dir):
    """The checkpoint's state.json (epoch, step, learning rate, logs, validation metrics)."""
    path = os.path.join(ckpt_dir, "state.json")
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise ValueError(f"{path}: corrupt checkpoint state ({e})") from None


def read_results(run_dir):
    """The run's final validation metrics (results.json), or None if it has none yet."""
    path = os.path.join(run_dir, RESULTS)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def restore(ckpt_dir, model, with_optimizer=True):
    """Loads weights (and optimizer state) into a built model; returns the saved state dict."""
    if with_optimizer:  # built first, so that load_weights restores it too
        model.optimizer.build(model.trainable_variables)
    weights = os.path.join(ckpt_dir, "model.weights.h5")
    try:
        model.load_weights(weights)
    except FileNotFoundError:
        raise
    except Exception as e:  # h5py's OSError/KeyError, Keras' ValueError: none names the file
        raise ValueError(f"{weights}: cannot load the model weights ("
                         f"{' '.join(str(e).split()) or type(e).__name__})") from None
    state = read_state(ckpt_dir)
    if not with_optimizer:
        return state
    opt = model.optimizer
    npz = os.path.join(ckpt_dir, "optimizer.npz")  # checkpoints from before: a second copy
    if not os.path.exists(npz):
        if state.get("epoch", 0) >= 1 and int(opt.iterations.numpy()) == 0:
            raise ValueError(f"{weights}: holds no optimizer state (0 steps after epoch "
                             f"{state['epoch']}); it cannot be resumed exactly")
    else:
        try:
            with np.load(npz) as z:
                values = [z[k] for k in sorted(z.files)]
        except FileNotFoundError:
            raise
        except Exception as e:
            raise ValueError(f"{npz}: cannot read the optimizer state ({e})") from None
        if len(values) != len(opt.variables):
            raise ValueError(f"{ckpt_dir}: optimizer state has {len(values)} variables, the model's "
                             f"optimizer {len(opt.variables)}")
        for var, val in zip(opt.variables, values):
            var.assign(val)
    return state
