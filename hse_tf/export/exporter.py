"""Writes trained towers as TF Serving SavedModels: OUT/<name>/<version>/saved_model.pb."""

import json
import os

import keras

from hse_tf.data.atomic import atomic_dir
from hse_tf.export.layout import next_version


def write_saved_model(out, name, endpoints, tracked, metadata, version=None):
    """Writes OUT/<name>/<version> (default: the next version) atomically, so a half-written
    version never appears to TF Serving; returns its path.

    `endpoints`: {signature name: (fn, [named tf.TensorSpec])}; `tracked`: layers and lookup
    tables the functions use; `metadata` goes to assets.extra/hse_export.json (TF Serving ignores
    assets.extra; the loopback server and clients read it).
    """
    version = version or next_version(os.path.join(out, name))
    path = os.path.join(out, name, str(version))
    metadata = {**metadata, "model": name, "version": version}
    archive = keras.export.ExportArchive()
    for obj in tracked:
        archive.track(obj)
    for signature_name, (fn, signature) in endpoints.items():
        archive.add_endpoint(name=signature_name, fn=fn, input_signature=signature)
    with atomic_dir(path) as tmp:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        with open(os.path.join(tmp, "assets.extra", "hse_export.json"), "w") as f:
            json.dump(metadata, f, indent=1)
    return path


def export_encoders(model, vocab, out, version=None, metadata=None, max_clips=256,
                    max_sentences=256):
    """Exports `model`'s towers as OUT/hse_video/<v> and OUT/hse_text/<v>; returns their paths."""
    from hse_tf.export.text_export import text_endpoints
    from hse_tf.export.video_export import video_endpoints
    meta = {"hidden": model.hidden, "feature_dim": model.feature_dim,
            "hierarchical": model.hierarchical, "vocab_size": len(vocab), **(metadata or {})}
    paths = {}
    table = vocab.tf_table()
    for name, endpoints, tracked in (
            ("hse_video", video_endpoints(model.video_tower, model.feature_dim, max_clips),
             [model.video_tower]),
            ("hse_text", text_endpoints(model.text_tower, table, max_sentences),
             [model.text_tower, table])):
        paths[name] = write_saved_model(out, name, endpoints, tracked, meta, version)
    return paths


def export_caption(model, captioner, meta, out, version=None, max_clips=256, metadata=None):
    """Exports the captioning head (with the frozen video tower) as OUT/hse_caption/<v>."""
    from hse_tf.export.caption_export import caption_endpoints
    endpoints = caption_endpoints(model.video_tower, captioner, meta["words"], model.feature_dim,
                                  meta["beam"], meta["max_len"], meta.get("length_penalty", 0.0),
                                  max_clips)
    return write_saved_model(out, "hse_caption", endpoints, [model.video_tower, captioner],
                             {"beam": meta["beam"], "max_len": meta["max_len"],
                              "vocab_size": len(meta["words"]), **(metadata or {})}, version)


def export_classifier(model, classifier, meta, out, version=None, metadata=None):
    """Exports the MLP classifier (with the frozen clip encoder) as OUT/hse_classifier/<v>."""
    from hse_tf.export.classifier_export import classifier_endpoints
    endpoints = classifier_endpoints(model.video_tower.clip_encoder, classifier, meta["classes"],
                                     model.feature_dim)
    return write_saved_model(out, "hse_classifier", endpoints, [model.video_tower, classifier],
                             {"classes": list(meta["classes"]), **(metadata or {})}, version)


def export_features(settings, out, version=None, metadata=None):
    """Exports the frame backbone of `settings` (the extraction settings stored with the
    features the model trained on) as OUT/hse_features/<v>."""
    from hse_tf.export.features_export import features_endpoints
    from hse_tf.features.frame_feature_extractor import FrameFeatureExtractor
    extractor = FrameFeatureExtractor(settings["backbone"], settings["weights"],
                                      settings.get("seed", 0))
    return write_saved_model(out, "hse_features", features_endpoints(extractor), [extractor],
                             {**settings, "feature_dim": extractor.dim, **(metadata or {})},
                             version)
