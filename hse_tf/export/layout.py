"""The TF Serving folder layout: MODEL_DIR/<integer version>/saved_model.pb, and exports as units.

One place that reads it, for the exporter (next version, interrupted exports), the stand-in
server (which versions to load), the index builder and search (which export to use).

An export writes several models under one base folder (hse_video, hse_text and, as asked,
hse_features, hse_caption, hse_classifier), all with the same version number. Each version's
assets.extra/hse_export.json names the export (`export_id`) and its `members`. A version is
*complete* when every member exists at that version with the same export_id: readers use
complete versions only, so a half-finished export is never paired with another one.
Exports written before export ids count as complete.
"""

import os
import re

from hse_tf.data.atomic import read_json_object

# The default request limits of an export (python -m hse_tf.export --max_clips/--max_sentences):
MAX_CLIPS = 256  # clips of one video (hse_video, hse_caption)
MAX_PARAGRAPH = 256  # sentences of one paragraph (hse_text)

METADATA = os.path.join("assets.extra", "hse_export.json")


def versions(model_dir, servable=True):
    """Sorted integer versions under `model_dir`; with `servable`, only those holding a
    saved_model.pb (half-written exports never qualify: they are written atomically)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n) and (
        not servable or os.path.exists(os.path.join(model_dir, n, "saved_model.pb"))))


def read_metadata(version_dir):
    """The version's hse_export.json as a dict ({} when there is none: exported elsewhere)."""
    return read_json_object(os.path.join(version_dir, METADATA), "export metadata")


def is_complete(model_dir, version):
    """Whether every member of the export that wrote MODEL_DIR/<version> is there too, from the
    same export."""
    meta = read_metadata(os.path.join(model_dir, str(version)))
    export_id, members = meta.get("export_id"), meta.get("members")
    if not export_id or not members:
        return True  # exported before export ids: nothing to pair
    base = os.path.dirname(os.path.abspath(model_dir))
    for name in members:
        other = os.path.join(base, name, str(version))
        if not os.path.exists(os.path.join(other, "saved_model.pb")):
            return False
        if read_metadata(other).get("export_id") != export_id:
            return False
    return True


def complete_versions(model_dir):
    """Servable versions under `model_dir` whose export is complete."""
    return [v for v in versions(model_dir) if is_complete(model_dir, v)]


def next_version(models_dir, names):
    """1 + the highest integer version folder of any of `names` under `models_dir` (so every
    member of a new export gets the same, unused number)."""
    return max((v for n in names for v in versions(os.path.join(models_dir, n), servable=False)),
               default=0) + 1


def latest_version(model_dir):
    """Path of the highest complete version under `model_dir`."""
    found = complete_versions(model_dir)
    if not found:
        raise FileNotFoundError(f"{model_dir}: no complete <version>/saved_model.pb (export "
                                f"with 'python -m hse_tf.export')")
    return os.path.join(model_dir, str(found[-1]))


def export_record(version_dir):
    """What an index records of a model it was built with: name, version, export id and the
    weights' fingerprint (the SavedModel fingerprint's checkpoint hash)."""
    meta = read_metadata(version_dir)
    return {"name": os.path.basename(os.path.dirname(os.path.abspath(version_dir))),
            "version": int(os.path.basename(os.path.abspath(version_dir))),
            "export_id": meta.get("export_id"), "weights": meta.get("weights_fingerprint")}


def load_saved_model(path):
    """tf.saved_model.load with one line naming the folder when its files are corrupt (a
    truncated variables file, a damaged saved_model.pb)."""
    import tensorflow as tf
    try:
        return tf.saved_model.load(path)
    except Exception as e:  # corrupt files raise anything (IndexError, DecodeError, OpError...)
        text = " ".join((getattr(e, "message", None) or str(e) or type(e).__name__).split())
        raise ValueError(f"{path}: cannot load the SavedModel (corrupt or incomplete files: "
                         f"{text[:200]}); export the model again") from None
