"""Batch-embeds a feature file into a video index (and a clip index), resumably.

Work goes to `<out>.partial/`: plan.json (the videos, settings, and fingerprints of the
features, annotations and models) and shards/NNNNN.npz with their sha256, each written
atomically. An interrupted build, run again with the same inputs, keeps the finished shards and
embeds only the rest; changed inputs are refused (or, with --overwrite, start afresh). The
finished index (videos, and clips in <out>/clips) replaces `<out>` as one unit; an existing
`<out>` must be an index and is replaced only with --overwrite (hse_tf.data.outputs).
"""

import dataclasses
import json
import os
import shutil

import numpy as np

from hse_tf.data import clips as clip_rules
from hse_tf.data.atomic import atomic_path, read_json_object
from hse_tf.data.errors import DataError
from hse_tf.data.video_dataset import cut_clips
from hse_tf.data.fingerprint import input_fingerprint, value_fingerprint
from hse_tf.data.locks import output_lock
from hse_tf.data.outputs import OutputError, claim, owned_dir
from hse_tf.index import thumbnails
from hse_tf.index.beam_embedding import embed_shards
from hse_tf.index.encoders import Encoders
from hse_tf.index.gallery_index import GalleryIndex
from hse_tf.index.ownership import TEXT_INDEX, VIDEO_INDEX
from hse_tf.index.shards import (SHARDS, read_shard, shard_done, shard_path, shard_rows,
                                 write_shard)


def _progress(total, what, enabled, initial=0):
    """A tqdm bar on stderr (videos/s and ETA); the rate counts only this run's work."""
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=what, unit=" videos" if "video" in what
                else " paragraphs", disable=not enabled, dynamic_ncols=True, smoothing=0.1)


def _spans(feats, uniform_clips, issues, ann):
    """Inclusive frame ranges of a video's clips: the annotation's (training rules) when there is
    one, else `uniform_clips` equal segments."""
    if ann is None:
        return clip_rules.uniform_segments(len(feats), uniform_clips)
    return cut_clips(ann, len(feats), issues)


def _store_fingerprint(store):
    """Content fingerprint of the features: the feature file or folder, or each video file."""
    files = getattr(store, "files", None)
    if files is not None:  # VideoFileStore
        return value_fingerprint({v: input_fingerprint(p) for v, p in sorted(files.items())})
    return input_fingerprint(store.path)


def _annotations_fingerprint(annotations):
    return value_fingerprint([[a.video_id, a.duration, [list(map(float, s)) for s in a.segments],
                               a.unit, a.feature_length] for a in annotations])


def _open_plan(partial, plan, overwrite):
    """Starts `partial` with `plan`, or checks that the interrupted build there had the same
    inputs and settings (by fingerprint); with `overwrite`, an unlike one is started afresh."""
    plan_path = os.path.join(partial, "plan.json")
    if os.path.exists(plan_path):
        old = read_json_object(plan_path, "the plan of an interrupted build")
        if old == plan:
            return
        if not overwrite:
            changed = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
            raise ValueError(f"{partial}: an interrupted build with other inputs or settings is "
                             f"here ({', '.join(changed)} changed); rerun with the same inputs, "
                             f"or pass --overwrite to start afresh")
        shutil.rmtree(partial)
    elif os.path.lexists(partial) and (not os.path.isdir(partial) or os.listdir(partial)):
        raise OutputError(f"{partial}: exists and is not an interrupted index build (no "
                          f"plan.json); refusing to use it")
    with atomic_path(plan_path) as tmp, open(tmp, "w") as f:
        json.dump(plan, f)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """How build_video_index embeds and indexes (`python -m hse_tf.index build`'s flags)."""
    uniform_clips: int = 4  # clips per video without annotations
    batch_size: int = 32
    shard_size: int = 1024
    kind: str = "auto"  # hse_tf.index.gallery_index.KINDS
    params: dict = None
    clip_kind: str = "auto"
    max_shards: int = None  # stop after this many new shards (run again to continue)
    progress: bool = True
    runner: str = "local"  # or an Apache Beam runner: DirectRunner, DataflowRunner, ...
    pipeline_args: tuple = ()
    overwrite: bool = False
    thumbnails: bool = True

    def __post_init__(self):
        for name in ("uniform_clips", "batch_size", "shard_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")


def build_video_index(models_dir, store, out, annotations=None, issues=None, **options):
    """Embeds every video (of `annotations`, or of `store`) and writes the index to `out`.

    models_dir: an export folder, or an Encoders of one (its version is used throughout).
    options: BuildOptions' fields. runner 'local' embeds in this process; any Apache Beam
    runner name embeds with a Beam pipeline (hse_tf.index.beam_embedding; `pipeline_args` are
    its options) that writes the same shards (hse_tf.index.shards). `out` may exist only as an
    index folder, and is then replaced only with `overwrite` (hse_tf.data.outputs);
    `overwrite` also starts afresh an interrupted build whose inputs differ. A store of video
    files (VideoFileStore) also gets thumbnails and media.json in the index
    (hse_tf.index.thumbnails), unless `thumbnails` is False. Returns the GalleryIndex, or None
    when `max_shards` stopped the build early (run again to continue)."""
    from hse_tf.data.errors import IssueLog
    opts = BuildOptions(**options)
    issues = issues or IssueLog()
    claim(out, VIDEO_INDEX, opts.overwrite)
    with output_lock(lock_path(out), f"an index build into {out}"):
        return _build_video_index(models_dir, store, out, annotations, issues, opts)


def lock_path(out):
    """The lock file of an index build into `out` (beside it, as <out>.partial)."""
    return os.path.abspath(out).rstrip("/") + ".lock"


def _build_video_index(models_dir, store, out, annotations, issues, opts):
    claim(out, VIDEO_INDEX, opts.overwrite)  # again, now that no other build writes there
    build = _start(models_dir, store, out, annotations, opts)
    embed = _embed_locally if opts.runner == "local" else _embed_with_beam
    if not embed(build, store, opts, issues):
        return None
    return _finish(build, opts, getattr(store, "files", None) if opts.thumbnails else None)


@dataclasses.dataclass
class _Build:
    """An index build under way: its plan, its shards and where they go."""
    encoders: Encoders
    plan: dict
    anns: dict  # video id -> annotation, or None (uniform clips)
    shards: list  # the video ids of each shard
    shard_dir: str
    partial: str
    out: str
    done: set  # the shards already written


def _start(models_dir, store, out, annotations, opts):
    """The build's plan (videos, settings, and the fingerprints of the inputs), checked against
    an interrupted build in <out>.partial/, and which of its shards are already written."""
    anns = {a.video_id: a for a in annotations} if annotations is not None else None
    video_ids = [a.video_id for a in annotations] if annotations is not None else sorted(
        store.keys())
    if not video_ids:
        raise ValueError(f"{store.path}: no videos to index")
    encoders = models_dir if isinstance(models_dir, Encoders) else Encoders(models_dir)
    plan = {"videos": video_ids, "features": os.path.abspath(store.path),
            "features_fingerprint": _store_fingerprint(store),
            "model": os.path.abspath(encoders.video[1]["path"]), "models": encoders.records(),
            "uniform_clips": opts.uniform_clips, "annotations": None if anns is None else
            _annotations_fingerprint(annotations), "shard_size": opts.shard_size}
    if getattr(store, "fps", None):
        plan["fps"] = store.fps
    partial = out.rstrip("/") + ".partial"
    _open_plan(partial, plan, opts.overwrite)
    size = opts.shard_size
    shards = [video_ids[i:i + size] for i in range(0, len(video_ids), size)]
    shard_dir = os.path.join(partial, SHARDS)
    os.makedirs(shard_dir, exist_ok=True)
    done = {i for i in range(len(shards)) if shard_done(shard_path(shard_dir, i))}
    return _Build(encoders, plan, anns, shards, shard_dir, partial, out, done)


def _embed_locally(build, store, opts, issues):
    """Embeds the missing shards in this process; False when max_shards stopped it early."""
    bar = _progress(len(build.plan["videos"]), "embedding videos", opts.progress,
                    initial=sum(len(build.shards[i]) for i in build.done))
    new = 0
    for i, shard in enumerate(build.shards):
        if i in build.done:
            continue
        if opts.max_shards is not None and new >= opts.max_shards:
            bar.close()
            return False
        write_shard(shard_path(build.shard_dir, i),
                    _embed_shard(shard, store, build.encoders, opts.batch_size,
                                 opts.uniform_clips, build.anns, issues, bar))
        new += 1
    bar.close()
    return True


def _embed_with_beam(build, store, opts, issues):
    """Embeds the missing shards with an Apache Beam pipeline; counts the videos it skipped;
    False when max_shards left shards for a later run."""
    from hse_tf.data.errors import IssueLog
    todo = [i for i in range(len(build.shards)) if i not in build.done]
    if opts.max_shards is not None:
        todo = todo[:opts.max_shards]
    size = opts.shard_size
    jobs = [(i, [(i * size + k, v) for k, v in enumerate(build.shards[i])]) for i in todo]
    fixed = IssueLog("skip")  # clamping counts stay in the workers' logs
    anns, uniform = build.anns, opts.uniform_clips

    def span_fn(vid, feats):
        return _spans(feats, uniform, fixed, anns[vid] if anns else None)

    embed_shards(build.encoders.models_dir, store, jobs, build.shard_dir, span_fn,
                 opts.batch_size, opts.runner, opts.pipeline_args,
                 skip_bad=issues.policy == "skip", version=build.encoders.version)
    # (the shards' checksums are checked once, by _finish)
    written = sum(shard_rows(shard_path(build.shard_dir, i)) for i in todo)
    for _ in range(sum(len(build.shards[i]) for i in todo) - written):
        issues.fixed("bad_video", "skipped by the Beam pipeline (see its bad_videos counter)")
    return len(build.done) + len(todo) == len(build.shards)


def _embed_shard(shard, store, encoders, batch_size, uniform_clips, anns, issues, bar):
    """The rows of one shard: (position, video id, video embedding, clip embeddings, spans)."""
    rows = []
    for start in range(0, len(shard), batch_size):
        ids, feats = [], []
        for v in shard[start:start + batch_size]:
            try:
                feats.append(store.get(v))
                ids.append(v)
            except DataError as e:  # raised under --on_bad_input=error
                issues.bad("bad_video", e)
        bar.update(len(shard[start:start + batch_size]) - len(ids))
        if not ids:
            continue
        sp = [_spans(f, uniform_clips, issues, anns[v] if anns else None)
              for v, f in zip(ids, feats)]
        v_emb, c_emb = encoders.embed_videos(feats, sp)
        base = len(rows)  # positions follow the shard's order, whatever the batch size
        rows.extend([(base + j, v, v_emb[j], None if c_emb is None else c_emb[j], sp[j])
                     for j, v in enumerate(ids)])
        bar.update(len(ids))
    return rows


def _finish(build, opts, media=None):
    """Assembles the video index (and the clip index, thumbnails and media.json) from the
    shards and writes it to `out` as one unit; removes <out>.partial/."""
    plan, anns, partial = build.plan, build.anns, build.partial
    parts = [read_shard(shard_path(build.shard_dir, i)) for i in range(len(build.shards))]
    parts = [p for p in parts if len(p["ids"])]  # shards whose videos were all skipped
    if not parts:
        raise DataError("no video could be embedded (all were skipped as bad input)",
                        file=plan["features"])
    video_ids = [str(v) for p in parts for v in p["ids"]]  # without the skipped ones
    video = np.concatenate([p["video"] for p in parts])
    counts = np.concatenate([p["counts"] for p in parts])
    spans = np.concatenate([p["spans"] for p in parts])
    meta = {"model": plan["model"], "models_dir": os.path.abspath(build.encoders.models_dir),
            "models": plan["models"], "features": plan["features"], "content": "videos",
            "clips": "annotations" if anns else f"{plan['uniform_clips']} uniform segments"}
    if plan.get("fps"):
        meta["fps"] = plan["fps"]
    index = GalleryIndex(video_ids, video, opts.kind, opts.params, meta)
    clip_index = None
    if parts[0]["clips"].size:
        owner = np.repeat(np.arange(len(video_ids)), counts)
        within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        clip_ids = []
        for row, k, (s, e) in zip(owner, within, spans):
            vid = video_ids[row]
            entry = {"video": vid, "start_frame": int(s), "end_frame": int(e)}
            ann = anns.get(vid) if anns else None
            if ann is not None and ann.unit == "seconds":
                entry["start"], entry["end"] = (float(t) for t in ann.segments[k])
            elif ann is None and plan.get("fps"):  # video files: frames were sampled at fps
                entry["start"], entry["end"] = s / plan["fps"], (e + 1) / plan["fps"]
            clip_ids.append(entry)
        clips = np.concatenate([p["clips"] for p in parts])
        clip_index = GalleryIndex(clip_ids, clips, opts.clip_kind, None,
                                  {**meta, "content": "clips"})
    thumbs = os.path.join(partial, thumbnails.THUMBNAILS)
    if media:  # resumable like the shards: one folder per video, kept when there
        from tqdm.auto import tqdm
        times = thumbnails.clip_times_by_video(clip_index.ids if clip_index else [])
        for vid in tqdm(video_ids, desc="thumbnails", disable=not opts.progress):
            thumbnails.write_video_thumbnails(thumbs, vid, media[vid], times.get(vid, []))
    with owned_dir(build.out, VIDEO_INDEX, opts.overwrite) as tmp:  # video and clip indices: one unit
        index.write(tmp)
        if clip_index is not None:
            os.makedirs(os.path.join(tmp, "clips"))
            clip_index.write(os.path.join(tmp, "clips"))
        if media:
            os.replace(thumbs, os.path.join(tmp, thumbnails.THUMBNAILS))
            thumbnails.write_media(tmp, {v: media[v] for v in video_ids})
    shutil.rmtree(partial, ignore_errors=True)
    return index


def build_text_index(models_dir, annotations, out, batch_size=64, kind="auto", params=None,
                     progress=True, overwrite=False):
    """Paragraph index of annotated videos (for video -> nearest paragraphs)."""
    if int(batch_size) < 1:
        raise ValueError(f"--batch_size must be >= 1, got {batch_size}")
    if not annotations:
        raise ValueError("no annotated videos to index")
    claim(out, TEXT_INDEX, overwrite)
    with output_lock(lock_path(out), f"an index build into {out}"):
        return _build_text_index(models_dir, annotations, out, batch_size, kind, params,
                                 progress, overwrite)


def _build_text_index(models_dir, annotations, out, batch_size, kind, params, progress,
                      overwrite):
    encoders = models_dir if isinstance(models_dir, Encoders) else Encoders(models_dir)
    bar = _progress(len(annotations), "embedding paragraphs", progress)
    parts = []
    for start in range(0, len(annotations), batch_size):
        chunk = annotations[start:start + batch_size]
        parts.append(encoders.embed_text([a.sentences for a in chunk])["paragraph"])
        bar.update(len(chunk))
    bar.close()
    meta = {"model": encoders.text[1]["path"],
            "models_dir": os.path.abspath(encoders.models_dir), "models": encoders.records(),
            "content": "paragraphs",
            "first_sentences": [a.sentences[0] for a in annotations]}
    index = GalleryIndex([a.video_id for a in annotations], np.concatenate(parts), kind, params,
                         meta)
    index.save(out, overwrite)
    return index
