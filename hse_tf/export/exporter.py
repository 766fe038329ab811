"""Writes trained towers as TF Serving SavedModels: OUT/<name>/<version>/saved_model.pb.

An export is one unit (hse_tf.export.layout): every model it writes gets the same version and
export id, and they appear together or not at all:
1. each model is written to a temporary folder beside its final place (OUT/<name>/.tmp-<v>-*);
2. a journal OUT/.export-<v>.json lists them;
3. each is renamed into place (microseconds apart), then the journal is removed.
A run killed in step 1 leaves temporary folders; killed in step 3, a journal. The next export
into OUT removes both and takes back whatever the unfinished export had renamed into place
(those folders carry its export id). Readers (the stand-in server, index build and search) use
complete versions only, so they never pair models of two exports even before that.
"""

import dataclasses
import glob
import json
import os
import re
import shutil
import tempfile
import uuid

import keras

from hse_tf.data.atomic import atomic_path, current_umask, read_json_object, replace_dir
from hse_tf.data.locks import output_lock
from hse_tf.data.outputs import OutputError
from hse_tf.export import layout
from hse_tf.export.layout import MAX_CLIPS, MAX_PARAGRAPH


@dataclasses.dataclass
class Member:
    """One model of an export: its signatures, what they track, and its metadata."""
    name: str
    endpoints: dict   # {signature name: (fn, [named tf.TensorSpec])}
    tracked: list     # layers and lookup tables the functions use
    metadata: dict    # -> assets.extra/hse_export.json (TF Serving ignores assets.extra)


def _journal(out, version):
    return os.path.join(out, f".export-{version}.json")


def recover(out):
    """Finishes what an interrupted export left in `out`: removes its temporary folders and the
    versions it had renamed into place (identified by the export id in its journal)."""
    for path in glob.glob(os.path.join(glob.escape(out), ".export-*.json")):
        try:
            journal = read_json_object(path, "export journal")
            members, export_id = journal["members"], journal["export_id"]
            version = int(journal["version"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: unreadable export journal ({e}); an export into {out} "
                             f"was interrupted: remove the file once you have checked "
                             f"{out}") from None
        for name in members:
            target = os.path.join(out, name, str(version))
            if os.path.isdir(target) and layout.read_metadata(target).get(
                    "export_id") == export_id:
                shutil.rmtree(target)
        os.remove(path)
    for name in os.listdir(out) if os.path.isdir(out) else ():
        folder = os.path.join(out, name)
        for left in os.listdir(folder) if os.path.isdir(folder) else ():
            if re.fullmatch(r"\.(tmp|old)-\d+-.*", left):  # staging or replaced version
                shutil.rmtree(os.path.join(folder, left), ignore_errors=True)


def write_export(out, members, version=None, overwrite=False):
    """Writes `members` (a list of Member) as one export OUT/<name>/<version>; returns
    {name: path}. `version` None: one above the highest of any member. An existing version is
    replaced only with `overwrite`, and only when it is an hse_tf export."""
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ValueError(f"--version must be a positive integer, got {version}")
    os.makedirs(out, exist_ok=True)
    # One export at a time into `out`: two would both pick the same next version.
    with output_lock(os.path.join(out, LOCK), f"an export into {out}"):
        return _write_export(out, members, version, overwrite)


LOCK = ".export.lock"  # held in the export folder while an export writes there


def _write_export(out, members, version, overwrite):
    recover(out)
    names = [m.name for m in members]
    version = version or layout.next_version(out, names)
    targets = {m.name: os.path.join(out, m.name, str(version)) for m in members}
    for name, target in targets.items():
        if os.path.lexists(target):
            if not overwrite:
                raise OutputError(f"{target}: version {version} of {name} exists; pass "
                                  f"--overwrite to replace it, or leave --version out for "
                                  f"the next free one")
            if not layout.read_metadata(target).get("model") == name:
                raise OutputError(f"{target}: exists and is not an hse_tf export of {name}; "
                                  f"refusing to replace it")
    export_id = uuid.uuid4().hex
    staged = {}
    try:
        for m in members:
            folder = os.path.join(out, m.name)
            os.makedirs(folder, exist_ok=True)
            staged[m.name] = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=folder)
            os.chmod(staged[m.name], 0o777 & ~current_umask())  # readable as by mkdir
            _write_member(staged[m.name], m, {"version": version, "export_id": export_id,
                                              "members": names})
        with atomic_path(_journal(out, version)) as tmp, open(tmp, "w") as f:
            json.dump({"export_id": export_id, "version": version, "members": names}, f)
    except BaseException:
        for tmp in staged.values():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for name, tmp in staged.items():
        replace_dir(tmp, targets[name])  # an existing version only with --overwrite (above)
    os.remove(_journal(out, version))
    return targets


def _write_member(folder, member, unit):
    import tensorflow as tf
    archive = keras.export.ExportArchive()
    for obj in member.tracked:
        archive.track(obj)
    for signature_name, (fn, signature) in member.endpoints.items():
        archive.add_endpoint(name=signature_name, fn=fn, input_signature=signature)
    archive.write_out(folder, verbose=False)
    weights = str(tf.saved_model.experimental.read_fingerprint(folder).checkpoint_hash)
    os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
    with open(os.path.join(folder, layout.METADATA), "w") as f:
        json.dump({**member.metadata, "model": member.name, **unit,
                   "weights_fingerprint": weights}, f, indent=1)


def write_saved_model(out, name, endpoints, tracked, metadata, version=None, overwrite=False):
    """One model as an export of its own (see write_export); returns its path."""
    return write_export(out, [Member(name, endpoints, tracked, metadata)], version,
                        overwrite)[name]


def encoder_members(model, vocab, metadata=None, max_clips=MAX_CLIPS, max_sentences=MAX_PARAGRAPH,
                    preprocessing=None):
    """hse_video and hse_text of `model`; `preprocessing`: the run's
    (hse_tf.data.preprocessing.Preprocessing; default: the defaults)."""
    from hse_tf.data.preprocessing import Preprocessing
    from hse_tf.export.text_export import text_endpoints
    from hse_tf.export.video_export import video_endpoints
    preprocessing = preprocessing or Preprocessing()
    meta = {"hidden": model.hidden, "feature_dim": model.feature_dim,
            "hierarchical": model.hierarchical, "vocab_size": len(vocab),
            "preprocessing": preprocessing.as_dict(), **(metadata or {})}
    table = vocab.tf_table()
    return [Member("hse_video", video_endpoints(model.video_tower, model.feature_dim, max_clips,
                                                preprocessing),
                   [model.video_tower], meta),
            Member("hse_text", text_endpoints(model.text_tower, table, max_sentences),
                   [model.text_tower, table], meta)]


def caption_member(model, captioner, meta, max_clips=MAX_CLIPS, metadata=None,
                   preprocessing=None):
    """The captioning head (with the frozen video tower) as hse_caption."""
    from hse_tf.export.caption_export import caption_endpoints
    endpoints = caption_endpoints(model.video_tower, captioner, meta["words"], model.feature_dim,
                                  meta["beam"], meta["max_len"], meta.get("length_penalty", 0.0),
                                  max_clips, preprocessing)
    return Member("hse_caption", endpoints, [model.video_tower, captioner],
                  {"beam": meta["beam"], "max_len": meta["max_len"],
                   "vocab_size": len(meta["words"]), **(metadata or {})})


def classifier_member(model, classifier, meta, metadata=None, preprocessing=None):
    """The MLP classifier (with the frozen clip encoder) as hse_classifier."""
    from hse_tf.export.classifier_export import classifier_endpoints
    endpoints = classifier_endpoints(model.video_tower.clip_encoder, classifier, meta["classes"],
                                     model.feature_dim, preprocessing=preprocessing)
    return Member("hse_classifier", endpoints, [model.video_tower, classifier],
                  {"classes": list(meta["classes"]), **(metadata or {})})


def features_member(settings, metadata=None):
    """The frame backbone of `settings` (the extraction settings stored with the features the
    model trained on) as hse_features."""
    from hse_tf.export.features_export import features_endpoints
    from hse_tf.features.frame_feature_extractor import FrameFeatureExtractor
    extractor = FrameFeatureExtractor(settings["backbone"], settings["weights"],
                                      settings.get("seed", 0))
    return Member("hse_features", features_endpoints(extractor), [extractor],
                  {**settings, "feature_dim": extractor.dim, **(metadata or {})})


def export_encoders(model, vocab, out, version=None, metadata=None, max_clips=MAX_CLIPS,
                    max_sentences=MAX_PARAGRAPH, overwrite=False, preprocessing=None):
    """Exports `model`'s towers as OUT/hse_video/<v> and OUT/hse_text/<v>; returns their paths."""
    return write_export(out, encoder_members(model, vocab, metadata, max_clips, max_sentences,
                                             preprocessing), version, overwrite)


def export_caption(model, captioner, meta, out, version=None, max_clips=MAX_CLIPS,
                   metadata=None):
    """Exports the captioning head alone as OUT/hse_caption/<v>; returns its path."""
    return write_export(out, [caption_member(model, captioner, meta, max_clips, metadata)],
                        version)["hse_caption"]


def export_classifier(model, classifier, meta, out, version=None, metadata=None):
    """Exports the classifier alone as OUT/hse_classifier/<v>; returns its path."""
    return write_export(out, [classifier_member(model, classifier, meta, metadata)],
                        version)["hse_classifier"]


def export_features(settings, out, version=None, metadata=None):
    """Exports the frame backbone alone as OUT/hse_features/<v>; returns its path."""
    return write_export(out, [features_member(settings, metadata)], version)["hse_features"]
