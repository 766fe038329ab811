"""The exported towers, loaded in-process, for batch embedding (index build) and queries."""

import json
import os
import re

import numpy as np
import tensorflow as tf


def latest_version(model_dir):
    """Path of the highest numbered version under `model_dir` (TF Serving layout)."""
    versions = [int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n)] if (
        os.path.isdir(model_dir)) else []
    if not versions:
        raise FileNotFoundError(f"{model_dir}: no <version>/saved_model.pb (export with "
                                f"'python -m hse_tf.export')")
    return os.path.join(model_dir, str(max(versions)))


class Encoders:
    """hse_video / hse_text SavedModels from an export folder (models/)."""

    def __init__(self, models_dir):
        self.models_dir = models_dir
        self._video = self._text = None

    def _load(self, name):
        path = latest_version(os.path.join(self.models_dir, name))
        module = tf.saved_model.load(path)
        meta_path = os.path.join(path, "assets.extra", "hse_export.json")
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        return module, {**meta, "path": path}

    @property
    def video(self):
        if self._video is None:
            self._video = self._load("hse_video")
        return self._video

    @property
    def text(self):
        if self._text is None:
            self._text = self._load("hse_text")
        return self._text

    def embed_videos(self, features, spans):
        """features: list of [T_i, D]; spans: list of [(start, end)] inclusive frame ranges ->
        (video [B, H], list of clip arrays [C_i, H] or None for flat models)."""
        module, _ = self.video
        lengths = [len(f) for f in features]
        counts = [len(s) for s in spans]
        x = np.zeros((len(features), max(lengths), features[0].shape[1]), np.float32)
        s = np.zeros((len(features), max(counts), 2), np.int64)
        for i, (f, c) in enumerate(zip(features, spans)):
            x[i, :len(f)] = f
            s[i, :len(c)] = c
        out = module.signatures["frame_spans"](
            features=tf.constant(x), feature_lengths=tf.constant(lengths, tf.int64),
            clip_spans=tf.constant(s), clip_counts=tf.constant(counts, tf.int64))
        clips = [out["clips"][i, :c].numpy() for i, c in enumerate(counts)] if (
            "clips" in out) else None
        return out["video"].numpy(), clips

    def embed_text(self, paragraphs):
        """paragraphs: list of lists of sentences -> dict of numpy arrays: paragraph [B, H],
        sentences [B, S, H] (hierarchical), token_counts / unknown_counts [B, S]."""
        module, _ = self.text
        counts = [len(p) for p in paragraphs]
        width = max(counts)
        padded = [list(p) + [""] * (width - len(p)) for p in paragraphs]
        out = module.signatures["serving_default"](
            sentences=tf.constant(padded), sentence_counts=tf.constant(counts, tf.int64))
        return {k: v.numpy() for k, v in out.items()}
