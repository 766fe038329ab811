"""Writes trained towers as TF Serving SavedModels: OUT/<name>/<version>/saved_model.pb."""

import json
import os
import re

import keras

from hse_tf.data.atomic import atomic_dir


def next_version(model_dir):
    """1 + the highest integer version folder under `model_dir` (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n)]
    return max(versions, default=0) + 1


def write_saved_model(path, endpoints, tracked, metadata):
    """Writes one SavedModel atomically (a half-written version never appears to TF Serving).

    `endpoints`: {signature name: (fn, [named tf.TensorSpec])}; `tracked`: layers and lookup
    tables the functions use; `metadata` goes to assets.extra/hse_export.json (TF Serving ignores
    assets.extra; the loopback server and clients read it).
    """
    archive = keras.export.ExportArchive()
    for obj in tracked:
        archive.track(obj)
    for name, (fn, signature) in endpoints.items():
        archive.add_endpoint(name=name, fn=fn, input_signature=signature)
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
        v = version or next_version(os.path.join(out, name))
        paths[name] = write_saved_model(os.path.join(out, name, str(v)), endpoints, tracked,
                                        {**meta, "model": name, "version": v})
    return paths


def export_caption(model, captioner, meta, out, version=None, max_clips=256, metadata=None):
    """Exports the captioning head (with the frozen video tower) as OUT/hse_caption/<v>."""
    from hse_tf.export.caption_export import caption_endpoints
    endpoints = caption_endpoints(model.video_tower, captioner, meta["words"], model.feature_dim,
                                  meta["beam"], meta["max_len"], meta.get("length_penalty", 0.0),
                                  max_clips)
    v = version or next_version(os.path.join(out, "hse_caption"))
    return write_saved_model(os.path.join(out, "hse_caption", str(v)), endpoints,
                             [model.video_tower, captioner],
                             {"model": "hse_caption", "version": v, "beam": meta["beam"],
                              "max_len": meta["max_len"], "vocab_size": len(meta["words"]),
                              **(metadata or {})})


def export_classifier(model, classifier, meta, out, version=None, metadata=None):
    """Exports the MLP classifier (with the frozen clip encoder) as OUT/hse_classifier/<v>."""
    from hse_tf.export.classifier_export import classifier_endpoints
    endpoints = classifier_endpoints(model.video_tower.clip_encoder, classifier, meta["classes"],
                                     model.feature_dim)
    v = version or next_version(os.path.join(out, "hse_classifier"))
    return write_saved_model(os.path.join(out, "hse_classifier", str(v)), endpoints,
                             [model.video_tower, classifier],
                             {"model": "hse_classifier", "version": v,
                              "classes": list(meta["classes"]), **(metadata or {})})
