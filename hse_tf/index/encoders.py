"""The exported towers, loaded in-process, for batch embedding (index build) and queries."""

import json
import os

import tensorflow as tf

from hse_tf.export.layout import latest_version
from hse_tf.export.requests import text_request, video_request


class Encoders:
    """hse_video / hse_text SavedModels from an export folder (models/)."""

    def __init__(self, models_dir):
        self.models_dir = models_dir
        self._video = self._text = self._features = None

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

    @property
    def features(self):
        """hse_features (frames -> features), exported for runs trained on extracted features."""
        if self._features is None:
            if not os.path.isdir(os.path.join(self.models_dir, "hse_features")):
                raise FileNotFoundError(
                    f"{self.models_dir}: no hse_features model. Embedding video files needs a "
                    f"model trained on features from 'python -m hse_tf.features extract', "
                    f"exported with 'python -m hse_tf.export'")
            self._features = self._load("hse_features")
        return self._features

    def embed_frames(self, frames):
        """uint8 [N, H, W, 3] frames of one video (sampled at features[1]['fps']) -> [N, D]."""
        module, _ = self.features
        out = module.signatures["serving_default"](frames=tf.constant(frames, tf.uint8))
        return out["features"].numpy()

    def embed_videos(self, features, spans):
        """features: list of [T_i, D]; spans: list of [(start, end)] inclusive frame ranges ->
        (video [B, H], list of clip arrays [C_i, H] or None for flat models)."""
        module, _ = self.video
        request = video_request(features, spans)
        out = module.signatures["frame_spans"](**{k: tf.constant(v) for k, v in request.items()})
        counts = request["clip_counts"]
        clips = [out["clips"][i, :c].numpy() for i, c in enumerate(counts)] if (
            "clips" in out) else None
        return out["video"].numpy(), clips

    def embed_text(self, paragraphs):
        """paragraphs: list of lists of sentences -> dict of numpy arrays: paragraph [B, H],
        sentences [B, S, H] (hierarchical), token_counts / unknown_counts [B, S]."""
        module, _ = self.text
        request = text_request(paragraphs)
        out = module.signatures["serving_default"](
            **{k: tf.constant(v) for k, v in request.items()})
        return {k: v.numpy() for k, v in out.items()}
