"""The shard files of an index build: <out>.partial/shards/NNNNN.npz, each with its sha256 in
NNNNN.npz.sha256 (written after the shard, so a shard is finished once its checksum exists).
The local build (hse_tf.index.builder) and the Beam pipeline (hse_tf.index.beam_embedding)
both write them with write_shard; the build reads them back with read_shard.

A shard holds, for its videos in position order: ids [n] (str), video [n, H], clips
[sum(counts), H] (or empty without clips), counts [n] (clips per video) and spans
[sum(counts), 2] (inclusive frame ranges).
"""

import os

import numpy as np

from hse_tf.data.atomic import atomic_path
from hse_tf.data.fingerprint import sha256_file
from hse_tf.index.gallery_index import IndexFileError

SHARDS = "shards"  # the folder of shards inside <out>.partial/


def shard_path(shard_dir, i):
    """The file of shard `i` (its checksum sits beside it, in <file>.sha256)."""
    return os.path.join(shard_dir, f"{i:05d}.npz")  # the one place the name is spelled


def shard_done(path):
    """A shard is finished once its checksum is written (after the shard itself)."""
    return os.path.exists(path + ".sha256")


def write_shard(path, rows):
    """rows: (position, video id, video embedding, clip embeddings or None, spans) of one shard,
    in any order -> its shard file, sorted by position, then its sha256 beside it (both atomic;
    the local build and the Beam pipeline both write shards with it)."""
    rows = sorted(rows, key=lambda r: r[0])
    clips = [r[3] for r in rows if r[3] is not None]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, ids=np.asarray([r[1] for r in rows], dtype=str),
                 video=np.stack([r[2] for r in rows]) if rows else np.zeros((0, 0), np.float32),
                 clips=np.concatenate(clips) if clips else np.zeros((0, 0), np.float32),
                 counts=np.asarray([len(r[4]) for r in rows]),
                 spans=np.asarray([s for r in rows for s in r[4]], np.int64).reshape(-1, 2))
    digest = sha256_file(path)
    with atomic_path(path + ".sha256") as tmp, open(tmp, "w") as f:
        f.write(digest)


def read_shard(path):
    """A finished shard's arrays, after checking its sha256."""
    with open(path + ".sha256") as f:
        want = f.read().strip()
    if sha256_file(path) != want:
        raise IndexFileError(f"{path}: checksum mismatch (corrupt shard); delete it and its "
                             f".sha256 to embed its videos again")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def shard_rows(path):
    """How many videos a written shard holds (without checking its checksum)."""
    with np.load(path) as z:
        return len(z["ids"])
