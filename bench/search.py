"""Exact vs approximate search: build time, memory, queries/second and recall@10.

    python bench/search.py [--sizes 10000,100000,1000000] [--dim 1024] [--queries 1000]
                           [--hnsw_max 100000] [--nprobes 16,62]

Synthetic L2-normalised embeddings with cluster structure, like trained embeddings (one cluster
centre on the sphere per 100 rows, each point its centre plus isotropic noise of norm 0.75, so
same-cluster cosines are ~0.6 and others ~0; queries drawn the same way). Without structure (pure
Gaussian rows) the top-10 beyond a query's own cluster is a set of near-ties at cosine ~0 that no
approximate index can be expected to recover, and that no real embedding gallery looks like. For each size, in a fresh process: exact search
(hse_tf.index.GalleryIndex kind 'exact', a matrix product) as ground truth, then IVF with the
default parameters (plus any --nprobes), IVF-PQ with exact re-ranking (the default beyond 50,000
rows; searched after save + load, so the float32 vectors are memory-mapped as in use), then HNSW up
to --hnsw_max rows (its build is slow at 1M on few cores). "faiss MB" is the faiss index's own
size (codes, lists, centroids); "RSS MB" the process growth while building, temporaries included. Recall@10 = share of the exact top-10 found in the approximate top-10. Memory is
the process RSS growth while building (the embeddings themselves are counted separately).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from memory import proc_mb  # noqa: E402


def clustered(n, dim, rng, centres):
    """n points: a random centre plus noise of the same norm, normalised (float32, in chunks)."""
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = centres[rng.integers(0, len(centres), m)]
        x = x + 0.75 * rng.normal(size=(m, dim)).astype(np.float32) / np.sqrt(dim)
        out[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def run(n, dim, n_queries, hnsw_max, nprobes):
    from hse_tf.index import GalleryIndex
    from hse_tf.index.gallery_index import default_params
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(10, n // 100), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = clustered(n, dim, rng, centres)
    q = clustered(n_queries, dim, rng, centres)
    ids = list(range(n))
    rows = []

    def measure(kind, params, truth=None):
        before = proc_mb()
        t = time.perf_counter()
        index = GalleryIndex(ids, x, kind=kind, params=params)
        build = time.perf_counter() - t
        grown = proc_mb() - before - (x.nbytes / 2**20)  # GalleryIndex keeps a normalised copy
        faiss_mb = 0.0
        if index.faiss_index is not None:
            import faiss
            faiss_mb = faiss.serialize_index(index.faiss_index).nbytes / 2**20
        if kind == "ivfpq":  # searched as a user searches it: loaded, vectors memory-mapped
            import tempfile
            folder = tempfile.mkdtemp(prefix="hse_bench_search_")
            index.save(os.path.join(folder, "i"))
            del index
            index = GalleryIndex.load(os.path.join(folder, "i"))
        t = time.perf_counter()
        _, found = index.search(q, 10)
        qps = len(q) / (time.perf_counter() - t)
        recall = 1.0 if truth is None else float(np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
        rows.append({"n": n, "kind": kind, "params": index.params, "build_s": build,
                     "index_mb": max(grown, 0.0), "faiss_mb": faiss_mb, "qps": qps,
                     "recall@10": recall})
        del index
        if kind == "ivfpq":
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
        return found

    truth = measure("exact", None)
    defaults = default_params("ivf", n)
    measure("ivf", None, truth)
    for p in nprobes:
        if p != defaults["nprobe"] and p <= defaults["nlist"]:
            measure("ivf", {"nprobe": p}, truth)
    if n >= 10_000:
        measure("ivfpq", None, truth)
        for p in nprobes:
            if p != default_params("ivfpq", n)["nprobe"]:
                measure("ivfpq", {"nprobe": p}, truth)
    if n <= hnsw_max:
        measure("hnsw", None, truth)
    return rows


def projection(r, factor=10):
    """A 10x larger gallery from a measured row (the method is printed with it):
    memory: codes, list ids and centroids grow linearly with rows (nlist with sqrt(rows));
    build: k-means on 64 x nlist samples costs ~ samples x nlist, i.e. ~ factor; adding codes
    is linear: ~ factor overall; queries/s: the scanned rows per query are nprobe x rows/nlist,
    which grows with sqrt(factor); the quantiser and the re-rank of `rerank` rows do not grow, so
    dividing queries/s by sqrt(factor) is pessimistic."""
    s = factor ** 0.5
    return {"n": r["n"] * factor, "faiss_mb": r["faiss_mb"] * factor,
            "build_s": r["build_s"] * factor, "qps": r["qps"] / s}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--hnsw_max", type=int, default=100_000)
    p.add_argument("--nprobes", default="")
    p.add_argument("--child", type=int)
    args = p.parse_args()
    nprobes = [int(v) for v in args.nprobes.split(",") if v]
    if args.child:
        print("RESULT " + json.dumps(run(args.child, args.dim, args.queries, args.hnsw_max,
                                         nprobes)))
        return
    import faiss
    print(f"{args.dim}-d, {args.queries} queries, {os.cpu_count()} cores, faiss "
          f"{faiss.__version__} ({faiss.omp_get_max_threads()} threads)")
    print(f"{'rows':>10}{'kind':>7}{'params':>56}{'build s':>9}{'RSS MB':>8}{'faiss MB':>9}"
          f"{'q/s':>9}{'R@10':>7}")
    last = None
    for n in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, __file__, "--child", str(n), "--dim", str(args.dim), "--queries",
               str(args.queries), "--hnsw_max", str(args.hnsw_max), "--nprobes", args.nprobes]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        for r in json.loads(out.stdout.split("RESULT ", 1)[1]):
            params = ",".join(f"{k}={v}" for k, v in r["params"].items()) or "-"
            print(f"{r['n']:>10,}{r['kind']:>7}{params:>56}{r['build_s']:>9.1f}"
                  f"{r['index_mb']:>8.0f}{r['faiss_mb']:>9.0f}{r['qps']:>9.0f}"
                  f"{r['recall@10']:>7.3f}", flush=True)
            if r["kind"] == "ivfpq" and r["params"]["nprobe"] == 16:
                last = r
    if last is not None:
        p = projection(last)
        print(f"\nprojection to {p['n']:,} rows from the measured {last['n']:,}-row ivfpq "
              f"default (see projection() for the method): faiss index {p['faiss_mb']:,.0f} MB "
              f"(raw float32 vectors: {p['n'] * args.dim * 4 / 2**20:,.0f} MB, on disk, "
              f"memory-mapped), build {p['build_s']:,.0f} s, >= {p['qps']:,.0f} queries/s")


if __name__ == "__main__":
    main()
