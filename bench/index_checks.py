"""What the index's integrity checks cost: `GalleryIndex.load` against `index verify`.

    python bench/index_checks.py [--rows 1000000] [--dim 1024] [--exact_rows 50000]

Question: a 1M x 1024 gallery is a 4 GB embeddings.npy. `load` must not read it whole, yet a
corrupted byte must be found. So `load` checks the sha256 of the files it reads whole anyway
(ids.json, faiss.index, and embeddings.npy of exact / ivf / hnsw indices, which are loaded into
memory) and, for a memory-mapped ivfpq index, only the header and shape; `verify` reads
everything. This script measures, each in a fresh process (page cache warm, as after a build):

- ivfpq at --rows (the 'auto' kind beyond 50,000 rows): load time and RSS growth, then verify
  time and RSS growth;
- exact at --exact_rows (the largest 'auto' exact index): load with its checksum against the same
  folder with the checksums removed from index.json (what load did before checksums), in one
  process, alternating, best of 5.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from memory import proc_mb  # noqa: E402
from search import clustered  # noqa: E402


def build(kind, n, dim, folder):
    from hse_tf.index import GalleryIndex
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(10, n // 100), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    params = {"nlist": 256, "pq_m": 64} if kind == "ivfpq" else None
    GalleryIndex(list(range(n)), clustered(n, dim, rng, centres), kind=kind,
                 params=params).save(folder)


def child(what, folder):
    import faiss  # noqa: F401  (its libraries' memory is not the index's)

    from hse_tf.index import GalleryIndex
    from hse_tf.index.gallery_index import verify
    before = proc_mb()
    t = time.perf_counter()
    if what == "load":
        index = GalleryIndex.load(folder)
        index.search(np.ones((1, index.dim), np.float32), 10)
    else:
        verify(folder)
    print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": proc_mb() - before}))


def fresh(what, folder):
    out = subprocess.run([sys.executable, __file__, "--child", what, folder], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def exact_ratio(folder, repeats=5):
    from hse_tf.index import GalleryIndex
    bare = folder + "-bare"
    shutil.copytree(folder, bare)
    meta = json.load(open(os.path.join(bare, "index.json")))
    del meta["checksums"]
    json.dump(meta, open(os.path.join(bare, "index.json"), "w"))
    times = {folder: [], bare: []}
    for _ in range(repeats):
        for path in (folder, bare):
            t = time.perf_counter()
            GalleryIndex.load(path)
            times[path].append(time.perf_counter() - t)
    return min(times[folder]), min(times[bare])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--exact_rows", type=int, default=50_000)
    p.add_argument("--child", nargs=2)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    work = tempfile.mkdtemp(prefix="hse_bench_checks_")
    try:
        pq = os.path.join(work, "pq")
        t = time.perf_counter()
        build("ivfpq", args.rows, args.dim, pq)
        size = os.path.getsize(os.path.join(pq, "embeddings.npy")) / 2**30
        print(f"built ivfpq {args.rows:,} x {args.dim} ({size:.2f} GiB embeddings.npy) in "
              f"{time.perf_counter() - t:.0f} s")
        load, check = fresh("load", pq), fresh("verify", pq)
        exact = os.path.join(work, "exact")
        build("exact", args.exact_rows, args.dim, exact)
        with_sum, without = exact_ratio(exact)
        print(f"\n| index | step | seconds | RSS growth MB |\n|---|---|---|---|")
        print(f"| ivfpq {args.rows:,} x {args.dim} | load + 1 query | {load['seconds']:.2f} | "
              f"{load['rss_mb']:.0f} |")
        print(f"| ivfpq {args.rows:,} x {args.dim} | verify | {check['seconds']:.2f} | "
              f"{check['rss_mb']:.0f} |")
        print(f"| exact {args.exact_rows:,} x {args.dim} | load, checksums checked | "
              f"{with_sum:.3f} | |")
        print(f"| exact {args.exact_rows:,} x {args.dim} | load, no checksums (before) | "
              f"{without:.3f} | |")
        print(f"\nexact load with checksums / without: {with_sum / without:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
