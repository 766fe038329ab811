"""Runs: from a run config (a dict of flag values) to datasets, vocabulary and model, and a run
folder back to its model (load_run).

The trainer writes the config as RUN_DIR/run_config.json; evaluation, export and the heads
rebuild the same pipeline and model from it.
"""

import json
import logging
import os

import keras
import numpy as np

from hse_tf.data import annotations as ann_lib
from hse_tf.data import demo
from hse_tf.data.data_config import DEFAULTS as DATA_DEFAULTS
from hse_tf.data.data_config import RANDOM_WORD_VECTORS
from hse_tf.data.errors import IssueLog
from hse_tf.data.features import open_features
from hse_tf.data.preprocessing import Preprocessing
from hse_tf.data.video_dataset import VideoDataset
from hse_tf.data.vocabulary import Vocabulary, embedding_matrix, token_coverage
from hse_tf.data.word_vectors import load_word_vectors
from hse_tf.losses.loss_config import OPTIONS as LOSS_OPTIONS
from hse_tf.models import DEFAULT_HIDDEN, HSEModel, build_model
from hse_tf.training.train_config import MIXED_POLICIES

# Numeric settings a run needs within bounds: {name: (lowest, why)}; checked before any work so a
# bad value is one line naming its flag, never a NaN model (an --lr of nan, --max_frames 0 and
# --lr_decay_every 0 used to train to NaN and be saved).
_AT_LEAST = {"hidden": 1, "max_frames": 2, "lr_decay_every": 1, "epochs": 1, "batch_size": 1,
             "min_word_count": 1}


def check_config(cfg):
    """ValueError naming the flag of the first out-of-range setting of a run config."""
    import math
    for name, low in _AT_LEAST.items():
        value = cfg.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < low):
            raise ValueError(f"--{name} must be an integer >= {low}, got {value!r}")
    lr = cfg.get("lr")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"--lr must be a finite number > 0, got {lr!r}")
    factor = cfg.get("lr_decay_factor")
    if factor is not None and not (isinstance(factor, (int, float)) and math.isfinite(factor)
                                   and 0 < factor <= 1):
        raise ValueError(f"--lr_decay_factor must be a number in (0, 1], got {factor!r}")
    from hse_tf.losses.hse_loss import OPTIONS
    for name in OPTIONS:
        value = cfg.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--{name} must be finite, got {value!r}")
    for name in ("clipnorm", "global_clipnorm", "warmup_epochs"):
        value = cfg.get(name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"--{name} must be a finite number >= 0, got {value!r}")


def read_annotations(cfg, split, issues):
    """Annotations of 'train' or 'val' for the configured dataset."""
    path = cfg[f"{split}_annotations"]
    dataset = cfg["dataset"]
    if dataset in ("activitynet", "demo"):
        return ann_lib.read_activitynet_captions(path, issues, cfg.get("sort_by_time", True))
    reader = ann_lib.READERS[dataset]
    sort = cfg.get("sort_by_time", True)
    if dataset == "youcook2":
        return reader(path, subset=cfg.get(f"{split}_subset"), issues=issues, sort_by_time=sort)
    return reader(path, issues=issues, sort_by_time=sort)


def prepare_demo(cfg):
    """The demo dataset is written on first use; its paths fill in unset flags."""
    if cfg["dataset"] != "demo":
        return cfg
    out = demo.ensure(cfg["demo_dir"])
    defaults = {"train_annotations": os.path.join(out, "train.json"),
                "val_annotations": os.path.join(out, "val_1.json"),
                "features": os.path.join(out, "c3d_features.hdf5"),
                "feature_layout": "c3d_hdf5",
                "word_vectors": os.path.join(out, "glove_demo.txt")}
    return {**cfg, **{k: v for k, v in defaults.items() if not cfg.get(k)}}


def make_split(cfg, split, vocab, issues=None):
    issues = issues or IssueLog(cfg.get("on_bad_input", "error"))
    anns = read_annotations(cfg, split, issues)
    store = open_features(cfg["feature_layout"], cfg["features"], cfg.get("feature_dim") or None)
    if cfg.get("cache_features"):
        store = shared_cache(store)
    return VideoDataset(anns, store, vocab, issues, Preprocessing.from_run(cfg).max_frames,
                        name=split)


_CACHES = {}


def shared_cache(store):
    """One in-memory cache per feature file, shared by the train and validation splits."""
    from hse_tf.data.features import CachedStore
    key = (type(store).__name__, os.path.abspath(store.path), os.path.getmtime(store.path))
    if key not in _CACHES:
        _CACHES[key] = CachedStore(store)
    return _CACHES[key]


def build_vocab(cfg, issues):
    anns = read_annotations(cfg, "train", issues)
    return Vocabulary.build([s for a in anns for s in a.sentences], cfg.get("min_word_count", 1))


DEFAULT_WORD_DIM = DATA_DEFAULTS.word_dim  # random word vectors (GloVe's own size otherwise)


def word_vector_matrix(cfg, vocab, train_sentences=()):
    """GloVe-initialised embedding matrix; logs vocabulary and token coverage. With
    --word_vectors=random, every word starts from N(0, 0.1) in --word_dim dimensions (seeded)
    and is learned with the model: no GloVe file needed."""
    if cfg["word_vectors"] == RANDOM_WORD_VECTORS:
        dim = int(cfg.get("word_dim") or DEFAULT_WORD_DIM)
        if dim < 1:
            raise ValueError(f"--word_dim must be >= 1, got {dim}")
        matrix, _ = embedding_matrix(vocab, ([], np.zeros((0, dim), np.float32)),
                                     seed=cfg.get("seed", 0))
        logging.info("word vectors: random, %d-d, learned with the model", dim)
        return matrix, 0.0
    words, vectors = load_word_vectors(cfg["word_vectors"], keep=set(vocab.words))
    matrix, coverage = embedding_matrix(vocab, (words, vectors), seed=cfg.get("seed", 0))
    tokens = token_coverage(vocab, words, train_sentences) if train_sentences else float("nan")
    logging.info("word vectors %s: %d-d, vocabulary coverage %.1f%% of %d words, token coverage "
                 "%.1f%%", cfg["word_vectors"], matrix.shape[1], 100 * coverage, len(vocab) - 2,
                 100 * tokens)
    return matrix, coverage




def encoder_options(cfg):
    """low_encoder, high_encoder and attention options of a run config: --encoder for every
    level unless --low_encoder / --high_encoder say otherwise; runs from before attention
    encoders are GRU runs, and an option a run's config lacks has its value of before the
    option (attention_config.BEFORE)."""
    from hse_tf.layers.attention_config import as_before
    from hse_tf.layers.encoders import ATTENTION_OPTIONS
    kind = cfg.get("encoder") or "gru"
    low, high = cfg.get("low_encoder") or kind, cfg.get("high_encoder") or kind
    attention = (as_before({k: cfg[k] for k in ATTENTION_OPTIONS if cfg.get(k) is not None})
                 if "attention" in (low, high) else {})
    return {"low_encoder": low, "high_encoder": high, "attention": attention}


def model_from_config(cfg, feature_dim, vocab_size, word_dim, mixed_precision="none"):
    """The model of a run config: HSEModel.from_config of its `model_config` (what the trainer
    saves in run_config.json), else built from its flags (a new run, or a run from before
    model_config). mixed_precision 'bfloat16' / 'float16': the towers compute in that type
    (variables stay float32; the loss layer computes in float32). Evaluation and export
    rebuild in float32 (the default)."""
    loss = {k: cfg[k] for k in LOSS_OPTIONS if k in cfg}
    if mixed_precision not in MIXED_POLICIES:
        raise ValueError(f"mixed_precision must be one of {sorted(MIXED_POLICIES)}, got "
                         f"{mixed_precision!r}")
    previous = keras.config.dtype_policy()
    if MIXED_POLICIES[mixed_precision]:
        keras.config.set_dtype_policy(MIXED_POLICIES[mixed_precision])
    try:  # layers take the policy when they are made; the global one is restored after
        if cfg.get("model_config"):  # the model's own config, saved by the trainer
            model = HSEModel.from_config(
                {k: v for k, v in cfg["model_config"].items() if k != "dtype"})
        else:  # a run config from before model_config, or a new run: from its flags
            model = build_model(cfg.get("model", "hse"), feature_dim=feature_dim,
                                vocab_size=vocab_size, word_dim=word_dim,
                                hidden=cfg.get("hidden", DEFAULT_HIDDEN),
                                flat_context=cfg.get("flat_context", True), loss=loss,
                                gru_implementation=cfg.get("gru_implementation", "auto"),
                                **encoder_options(cfg))
        model.build_weights()
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def load_run(path):
    """(cfg, vocab, model with the checkpoint's weights, ckpt_dir) from a run or checkpoint folder."""
    from hse_tf.training import checkpoints
    ckpt = checkpoints.resolve(path)
    run_dir = os.path.dirname(os.path.abspath(ckpt))
    config = os.path.join(run_dir, checkpoints.RUN_CONFIG)
    try:
        with open(config) as f:
            cfg = json.load(f)
        cfg["feature_dim"], cfg["word_dim"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{config}: corrupt run config ({e})") from None
    vocab = load_vocab(run_dir, cfg)
    model = model_from_config(cfg, cfg["feature_dim"], len(vocab), cfg["word_dim"])
    checkpoints.restore(ckpt, model, with_optimizer=False)
    return cfg, vocab, model, ckpt


def load_vocab(run_dir, cfg):
    """The run's vocabulary, checked against the size its model was built with (a vocab.txt that
    lost lines would shift or drop words silently)."""
    from hse_tf.training import checkpoints
    path = os.path.join(run_dir, checkpoints.VOCAB)
    vocab = Vocabulary.load(path)
    want = (cfg.get("model_config") or {}).get("vocab_size")
    if want is not None and len(vocab) != int(want):
        raise ValueError(f"{path}: {len(vocab)} words, but the run's model was trained with "
                         f"{want} (field vocab_size of {checkpoints.RUN_CONFIG}); the file is "
                         f"truncated or from another run")
    return vocab


def set_seeds(seed):
    keras.utils.set_random_seed(seed)
    np.random.seed(seed)
