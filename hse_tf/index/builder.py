"""Batch-embeds a feature file into a video index (and a clip index), resumably.

Work goes to `<out>.partial/`: plan.json (the videos and settings) and shards/NNNNN.npz, each
written atomically. An interrupted build, run again with the same arguments, keeps the finished
shards and embeds only the rest; the finished index replaces `<out>` as a whole.
"""

import json
import os
import shutil

import numpy as np

from hse_tf.data import clips as clip_rules
from hse_tf.data.atomic import atomic_path
from hse_tf.data.errors import DataError
from hse_tf.data.video_dataset import cut_clips
from hse_tf.index.encoders import Encoders
from hse_tf.index.gallery_index import GalleryIndex


def _progress(total, what, enabled, initial=0):
    """A tqdm bar on stderr (videos/s and ETA); the rate counts only this run's work."""
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=what, unit=" videos" if "video" in what
                else " paragraphs", disable=not enabled, dynamic_ncols=True, smoothing=0.1)


def write_shard(path, rows):
    """rows: (position, video id, video embedding, clip embeddings or None, spans) of one shard,
    in any order -> its shard file, sorted by position (atomic; the local build and the Beam
    pipeline both write shards with it)."""
    rows = sorted(rows, key=lambda r: r[0])
    clips = [r[3] for r in rows if r[3] is not None]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, ids=np.asarray([r[1] for r in rows], dtype=str),
                 video=np.stack([r[2] for r in rows]) if rows else np.zeros((0, 0), np.float32),
                 clips=np.concatenate(clips) if clips else np.zeros((0, 0), np.float32),
                 counts=np.asarray([len(r[4]) for r in rows]),
                 spans=np.asarray([s for r in rows for s in r[4]], np.int64).reshape(-1, 2))


def _spans(feats, uniform_clips, issues, ann):
    """Inclusive frame ranges of a video's clips: the annotation's (training rules) when there is
    one, else `uniform_clips` equal segments."""
    if ann is None:
        return clip_rules.uniform_segments(len(feats), uniform_clips)
    return cut_clips(ann, len(feats), issues)


def build_video_index(models_dir, store, out, annotations=None, uniform_clips=4, batch_size=32,
                      shard_size=1024, kind="auto", params=None, clip_kind="auto",
                      max_shards=None, progress=True, issues=None, runner="local",
                      pipeline_args=()):
    """Embeds every video (of `annotations`, or of `store`) and writes the index to `out`.

    runner: 'local' embeds in this process; any Apache Beam runner name (DirectRunner,
    DataflowRunner, FlinkRunner, SparkRunner, ...) embeds with a Beam pipeline
    (hse_tf.index.beam_embedding; `pipeline_args` are its options) that writes the same shards.
    Returns the GalleryIndex, or None when `max_shards` stopped the build early (run again to
    continue)."""
    from hse_tf.data.errors import IssueLog
    issues = issues or IssueLog()
    anns = {a.video_id: a for a in annotations} if annotations is not None else None
    video_ids = [a.video_id for a in annotations] if annotations is not None else sorted(
        store.keys())
    if not video_ids:
        raise ValueError(f"{store.path}: no videos to index")
    encoders = Encoders(models_dir)
    model_path = encoders.video[1]["path"]
    partial = out.rstrip("/") + ".partial"
    plan = {"videos": video_ids, "features": os.path.abspath(store.path),
            "model": os.path.abspath(model_path), "uniform_clips": uniform_clips,
            "annotations": anns is not None, "shard_size": shard_size}
    if getattr(store, "fps", None):
        plan["fps"] = store.fps
    plan_path = os.path.join(partial, "plan.json")
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            old = json.load(f)
        if old != plan:
            raise ValueError(f"{partial}: an interrupted build with other inputs or settings is "
                             f"here; delete it, or rerun with the same arguments")
    else:
        with atomic_path(plan_path) as tmp, open(tmp, "w") as f:
            json.dump(plan, f)
    shards = [video_ids[i:i + shard_size] for i in range(0, len(video_ids), shard_size)]
    shard_dir = os.path.join(partial, "shards")
    os.makedirs(shard_dir, exist_ok=True)
    done = {i for i in range(len(shards))
            if os.path.exists(os.path.join(shard_dir, f"{i:05d}.npz"))}
    if runner != "local":
        from hse_tf.index.beam_embedding import embed_shards
        todo = [i for i in range(len(shards)) if i not in done]
        if max_shards is not None:
            todo = todo[:max_shards]
        jobs = [(i, [(i * shard_size + k, v) for k, v in enumerate(shards[i])]) for i in todo]
        fixed = IssueLog("skip")  # clamping counts stay in the workers' logs

        def span_fn(vid, feats):
            return _spans(feats, uniform_clips, fixed, anns[vid] if anns else None)

        embed_shards(models_dir, store, jobs, shard_dir, span_fn, batch_size, runner,
                     pipeline_args, skip_bad=issues.policy == "skip")
        written = sum(len(np.load(os.path.join(shard_dir, f"{i:05d}.npz"))["ids"])
                      for i in todo)
        for _ in range(sum(len(shards[i]) for i in todo) - written):
            issues.fixed("bad_video", "skipped by the Beam pipeline (see its bad_videos counter)")
        if len(done) + len(todo) < len(shards):
            return None
        return _finish(shards, shard_dir, anns, plan, out, partial, kind, params, clip_kind)
    bar = _progress(len(video_ids), "embedding videos", progress,
                    initial=sum(len(shards[i]) for i in done))
    new = 0
    for i, shard in enumerate(shards):
        if i in done:
            continue
        if max_shards is not None and new >= max_shards:
            bar.close()
            return None
        rows = []  # (position, video id, video embedding, clip embeddings, spans)
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
            rows.extend((len(rows) + j, v, v_emb[j], None if c_emb is None else c_emb[j], sp[j])
                        for j, v in enumerate(ids))
            bar.update(len(ids))
        write_shard(os.path.join(shard_dir, f"{i:05d}.npz"), rows)
        new += 1
    bar.close()
    return _finish(shards, shard_dir, anns, plan, out, partial, kind, params, clip_kind)


def _finish(shards, shard_dir, anns, plan, out, partial, kind, params, clip_kind):
    parts = [np.load(os.path.join(shard_dir, f"{i:05d}.npz")) for i in range(len(shards))]
    parts = [p for p in parts if len(p["ids"])]  # shards whose videos were all skipped
    if not parts:
        raise DataError("no video could be embedded (all were skipped as bad input)",
                        file=plan["features"])
    video_ids = [str(v) for p in parts for v in p["ids"]]  # without the skipped ones
    video = np.concatenate([p["video"] for p in parts])
    counts = np.concatenate([p["counts"] for p in parts])
    spans = np.concatenate([p["spans"] for p in parts])
    meta = {"model": plan["model"], "models_dir": os.path.dirname(os.path.dirname(plan["model"])),
            "features": plan["features"], "content": "videos",
            "clips": "annotations" if anns else f"{plan['uniform_clips']} uniform segments"}
    index = GalleryIndex(video_ids, video, kind, params, meta)
    index.save(out)
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
        GalleryIndex(clip_ids, clips, clip_kind, None, {**meta, "content": "clips"}).save(
            os.path.join(out, "clips"))
    shutil.rmtree(partial, ignore_errors=True)
    return index


def build_text_index(models_dir, annotations, out, batch_size=64, kind="auto", params=None,
                     progress=True):
    """Paragraph index of annotated videos (for video -> nearest paragraphs)."""
    encoders = Encoders(models_dir)
    bar = _progress(len(annotations), "embedding paragraphs", progress)
    parts = []
    for start in range(0, len(annotations), batch_size):
        chunk = annotations[start:start + batch_size]
        parts.append(encoders.embed_text([a.sentences for a in chunk])["paragraph"])
        bar.update(len(chunk))
    bar.close()
    meta = {"model": encoders.text[1]["path"], "models_dir": os.path.abspath(models_dir),
            "content": "paragraphs",
            "first_sentences": [a.sentences[0] for a in annotations]}
    index = GalleryIndex([a.video_id for a in annotations], np.concatenate(parts), kind, params,
                         meta)
    index.save(out)
    return index
