"""The exported towers, loaded in-process, for batch embedding (index build) and queries.

Every model comes from ONE export (hse_tf.export.layout): the latest complete one, or the one
an index was built with (`Encoders.for_index`), so a gallery is never searched with a text
model that did not come with the video model that embedded it.
"""

import os

import tensorflow as tf

from hse_tf.export import layout
from hse_tf.export.requests import text_request, video_request


class ModelMismatch(ValueError):
    """The models at hand are not the ones an index was built with (names both)."""


class Encoders:
    """hse_video / hse_text / hse_features SavedModels of one export in an export folder.

    `version`: the export's version number (default: the latest complete version of the first
    model loaded). `expected`: {name: record} of layout.export_record, checked on load."""

    def __init__(self, models_dir, version=None, expected=None):
        self.models_dir = models_dir
        self.version = version
        self.expected = dict(expected or {})
        self._loaded = {}

    @classmethod
    def for_index(cls, index, models_dir=None):
        """The models that built `index` (its metadata records them), from `models_dir` or the
        folder the index was built from."""
        meta = index.metadata
        models_dir = models_dir or meta.get("models_dir")
        if not models_dir:
            raise ModelMismatch("the index does not say which models built it; give --model")
        records = meta.get("models")
        if records:
            return cls(models_dir, int(records["hse_video"]["version"]), records)
        # An index from before the records: the version of the video model it names.
        name = os.path.basename(str(meta.get("model", "")))
        return cls(models_dir, int(name) if name.isdigit() else None)

    def _load(self, name):
        folder = os.path.join(self.models_dir, name)
        if self.version is None:
            path = layout.latest_version(folder)
            self.version = int(os.path.basename(path))
        else:
            path = os.path.join(folder, str(self.version))
            if not os.path.exists(os.path.join(path, "saved_model.pb")):
                raise ModelMismatch(self._mismatch(name, path, "is missing"))
        record = layout.export_record(path)
        want = self.expected.get(name) or next(iter(self.expected.values()), None)
        if want is not None and want.get("export_id") and (
                record["export_id"] != want["export_id"] or (
                    name in self.expected and record["weights"] != want.get("weights"))):
            raise ModelMismatch(self._mismatch(
                name, path, f"is from export {record['export_id']} (weights "
                f"{record['weights']}), not {want['export_id']}"))
        if not layout.is_complete(folder, self.version):
            raise ModelMismatch(self._mismatch(
                name, path, "belongs to an unfinished export, or its version holds models of "
                "several exports"))
        module = layout.load_saved_model(path)
        return module, {**layout.read_metadata(path), "path": path, "record": record}

    def _mismatch(self, name, path, what):
        built = self.expected.get("hse_video")
        by = (f"hse_video/{built['version']} (export {built['export_id']})" if built
              else f"version {self.version}")
        return (f"{path}: {what}, but the index was built with {by}; export the models again "
                f"with that checkpoint, or rebuild the index with the models at hand"
                if self.expected else
                f"{path}: {what}; {name} must come from the same export as version "
                f"{self.version} of the other models")

    def _get(self, name):
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    @property
    def video(self):
        return self._get("hse_video")

    @property
    def text(self):
        return self._get("hse_text")

    @property
    def features(self):
        """hse_features (frames -> features), exported for runs trained on extracted features."""
        if "hse_features" not in self._loaded and not os.path.isdir(
                os.path.join(self.models_dir, "hse_features")):
            raise FileNotFoundError(
                f"{self.models_dir}: no hse_features model. Embedding video files needs a "
                f"model trained on features from 'python -m hse_tf.features extract', "
                f"exported with 'python -m hse_tf.export'")
        return self._get("hse_features")

    def records(self):
        """{name: export record} of this export's models (for an index to keep): those
        loaded, and hse_text of the same version when present."""
        out = {name: meta["record"] for name, (_, meta) in self._loaded.items()}
        text = os.path.join(self.models_dir, "hse_text", str(self.version))
        if "hse_text" not in out and os.path.exists(os.path.join(text, "saved_model.pb")):
            out["hse_text"] = layout.export_record(text)
        return out

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
