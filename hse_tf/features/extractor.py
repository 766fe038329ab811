"""Extraction: a folder (or list) of video files -> frame features in the project's layouts.

    hdf5           one file, f[video_id] = float32 [T, D]; the settings are file attributes and
                   each video has attributes `source` (the file) and `frames`.
    inception_npz  a folder of <video_id>.npz with frame_scores [T, 1, D, 1, 1] (the TSN
                   Inception layout), settings in extraction.json.

Both are read back by `hse_tf.data.features.open_features` (layouts 'hdf5', 'inception_npz').

Atomic per video and resumable: each finished video is written at once (an .npz in
<out>.partial/ for hdf5, the final .npz for the folder layout), so an interrupted run, started
again, extracts only the rest. The hdf5 file itself is written (atomically) when every video is
done; a later run with more videos adds them. A run with other settings than the ones already
on disk (backbone, fps, weights, ...) is refused.
"""

import hashlib
import json
import math
import os
import shutil
import time

import h5py
import numpy as np

from hse_tf.data.atomic import atomic_path
from hse_tf.data.errors import DataError, IssueLog
from hse_tf.features.decoding import list_videos
from hse_tf.features.video_file_store import file_features

LAYOUTS = ("hdf5", "inception_npz")
SETTINGS_FILE = "extraction.json"


def extraction_settings(backbone, fps, weights, seed):
    """What decides the features' values; stored with them and compared on every rerun."""
    from hse_tf.features.backbones import get_backbone
    spec = get_backbone(backbone)
    if not math.isfinite(float(fps)) or float(fps) <= 0:
        raise ValueError(f"--fps must be a finite number > 0, got {fps}")
    if weights in (None, "none"):
        weights = "none"
    elif weights != "imagenet":
        weights = os.path.abspath(weights)
    settings = {"extractor": "hse_tf.features", "backbone": backbone, "fps": float(fps),
                "weights": weights, "image_size": spec.image_size, "dim": spec.dim}
    if weights == "none":
        settings["seed"] = int(seed)
    return settings


def read_settings(layout, path):
    """The extraction settings stored with a feature file or folder, or None (features made by
    another tool, or nothing there yet)."""
    if layout == "inception_npz":
        f = os.path.join(path, SETTINGS_FILE)
        if not os.path.exists(f):
            return None
        with open(f) as fh:
            return json.load(fh)
    if not os.path.isfile(path):
        return None
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("hse_tf_extraction")
    return None if raw is None else json.loads(raw)


def _check_same(path, old, new):
    if old is not None and old != new:
        diff = ", ".join(f"{k}={old.get(k)!r} there, {new.get(k)!r} now"
                         for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
        raise DataError(f"already holds features extracted with other settings ({diff}); "
                        f"use another --out, or delete it to start over", file=path,
                        field="settings")


def _check_ours(layout, out):
    """An existing --out must be an extraction of ours (it is then extended, never replaced)."""
    if not os.path.lexists(out):
        return
    if layout == "inception_npz":
        if not os.path.isdir(out):
            raise DataError("exists and is not a folder; refusing to write features into it",
                            file=out, field="--out")
        if os.listdir(out) and not os.path.exists(os.path.join(out, SETTINGS_FILE)):
            raise DataError(f"a folder with other files and no {SETTINGS_FILE}: not an "
                            f"extraction of python -m hse_tf.features; refusing to write into it "
                            f"(choose another --out)", file=out, field="--out")
        return
    if not os.path.isfile(out):
        raise DataError("exists and is not a file; refusing to replace it", file=out,
                        field="--out")
    try:
        ours = read_settings(layout, out) is not None
    except OSError:
        ours = False
    if not ours:
        raise DataError("exists and is not a feature file written by python -m hse_tf.features "
                        "extract; refusing to change it (choose another --out)", file=out,
                        field="--out")


class FeatureWriter:
    """Where finished videos go, per layout; knows which videos are already done."""

    def __init__(self, layout, out, settings):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown output layout {layout!r}; choose from {list(LAYOUTS)}")
        self.layout, self.out, self.settings = layout, os.fspath(out), settings
        _check_ours(layout, self.out)
        _check_same(self.out, read_settings(layout, self.out), settings)
        if layout == "inception_npz":
            os.makedirs(self.out, exist_ok=True)
            self._write_json(os.path.join(self.out, SETTINGS_FILE))
            self.partial = None
        else:
            self.partial = self.out + ".partial"
            os.makedirs(os.path.join(self.partial, "videos"), exist_ok=True)
            meta = os.path.join(self.partial, SETTINGS_FILE)
            if os.path.exists(meta):
                with open(meta) as f:
                    _check_same(self.partial, json.load(f), settings)
            self._write_json(meta)

    def _write_json(self, path):
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            json.dump(self.settings, f, indent=1)

    def _partial_file(self, vid):
        name = hashlib.sha1(vid.encode()).hexdigest()[:20]
        return os.path.join(self.partial, "videos", name + ".npz")

    def done(self):
        """Ids of the videos already extracted."""
        if self.layout == "inception_npz":
            return {n[:-4] for n in os.listdir(self.out) if n.endswith(".npz")}
        ids = set()
        if os.path.isfile(self.out):
            with h5py.File(self.out, "r") as f:
                ids.update(f.keys())
        for n in os.listdir(os.path.join(self.partial, "videos")):
            if n.endswith(".npz"):
                with np.load(os.path.join(self.partial, "videos", n)) as z:
                    ids.add(str(z["video_id"]))
        return ids

    def write(self, vid, features, source):
        if self.layout == "inception_npz":
            target = os.path.join(self.out, f"{vid}.npz")
            arr = features[:, None, :, None, None]
        else:
            target, arr = self._partial_file(vid), features
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.savez(f, frame_scores=arr, video_id=np.str_(vid), source=np.str_(source),
                     fps=np.float64(self.settings["fps"]),
                     backbone=np.str_(self.settings["backbone"]))

    def finish(self):
        """hdf5: writes the file (earlier videos + this run's) atomically; drops the partial."""
        if self.layout == "inception_npz":
            return
        parts = sorted(os.listdir(os.path.join(self.partial, "videos")))
        if parts or not os.path.isfile(self.out):
            with atomic_path(self.out) as tmp:
                with h5py.File(tmp, "w") as f:
                    f.attrs["hse_tf_extraction"] = json.dumps(self.settings)
                    for k, v in self.settings.items():
                        f.attrs[k] = v
                    if os.path.isfile(self.out):
                        with h5py.File(self.out, "r") as old:
                            for vid in old.keys():
                                old.copy(old[vid], f, name=vid)
                    for n in parts:
                        with np.load(os.path.join(self.partial, "videos", n)) as z:
                            vid = str(z["video_id"])
                            if vid in f:
                                del f[vid]
                            ds = f.create_dataset(vid, data=z["frame_scores"])
                            ds.attrs["source"] = str(z["source"])
                            ds.attrs["frames"] = len(z["frame_scores"])
        shutil.rmtree(self.partial, ignore_errors=True)


def extract(videos, out, layout="hdf5", backbone="inception_v3", fps=2.0, weights="imagenet",
            seed=0, batch_size=32, on_bad_input="error", progress=True, extractor=None):
    """Extracts features of every video in `videos` (folder, list file or {id: path}) to `out`.

    Returns {'extracted', 'skipped_done', 'bad', 'frames', 'seconds', 'issues'}."""
    from hse_tf.features.frame_feature_extractor import FrameFeatureExtractor
    issues = on_bad_input if isinstance(on_bad_input, IssueLog) else IssueLog(on_bad_input)
    files = videos if isinstance(videos, dict) else list_videos(videos)
    settings = extraction_settings(backbone, fps, weights, seed)
    writer = FeatureWriter(layout, out, settings)
    done = writer.done()
    todo = [(v, p) for v, p in files.items() if v not in done]
    stats = {"extracted": 0, "skipped_done": len(files) - len(todo), "bad": 0, "frames": 0}
    start = time.perf_counter()
    if todo:
        extractor = extractor or FrameFeatureExtractor(backbone, weights, seed)
        run = _compiled(extractor)
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc="extracting", unit=" videos", disable=not progress,
                   dynamic_ncols=True, smoothing=0.1)
        try:
            for vid, path in todo:
                try:
                    feats = file_features(path, fps, run, batch_size)
                except DataError as e:
                    bar.update(1)
                    issues.bad("bad_video", e)
                    stats["bad"] += 1
                    continue
                writer.write(vid, feats, path)
                stats["extracted"] += 1
                stats["frames"] += len(feats)
                bar.update(1)
                bar.set_postfix_str(
                    f"{stats['frames'] / (time.perf_counter() - start):.1f} frames/s")
        finally:
            bar.close()
    writer.finish()
    stats["seconds"] = time.perf_counter() - start
    stats["issues"] = issues
    return stats


def _compiled(extractor):
    """One traced function for every frame batch size and resolution."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def run(frames):
        return extractor(frames)

    return lambda batch: run(batch).numpy()
