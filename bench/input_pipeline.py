"""How fast is the input pipeline alone, and does its memory grow with the feature file?

    python bench/input_pipeline.py [--sizes 500,2000] [--batch 64] [--epochs 4]
        [--readers 1,2] [--compare ../base]

Writes ActivityNet-shaped data (C3D layout, 500-d, ~2 features/s, real val_1 durations, timestamps
and sentences when ../shared/data is present), then, in a fresh process per size (and per tree
with --compare, e.g. the previous main as a `git worktree`; per reader count with --readers),
streams --epochs epochs through hse_tf.data.pipeline.make_dataset and prints the median
videos/second of the epochs after the first (the file is in the page cache by then, as in
training; an epoch of 2,000 videos lasts under a second, so single epochs vary by +-30% with the
machine's load) and memory.

Memory is the child's own VmHWM/VmRSS from /proc (Linux). Not ru_maxrss: Linux carries the parent's
high-water mark across fork+exec into the child's ru_maxrss, which is what made an earlier version
of this benchmark report growth that was not there. Features are generated lazily, one video at a
time, so the parent never holds the file in memory either.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from memory import proc_mb  # noqa: E402
REAL = os.path.join(ROOT, "..", "shared", "data", "activitynet_captions", "val_1.json")


def make_data(folder, n, dim=500, seed=0):
    from hse_tf.data.features import write_features
    rng = np.random.default_rng(seed)
    if os.path.exists(REAL):
        real = json.load(open(REAL))
        items = list(real.items())
        anns = {f"v_bench{i:06d}": items[i % len(items)][1] for i in range(n)}
    else:
        anns = {}
        for i in range(n):
            d = float(rng.uniform(30, 240))
            k = int(rng.integers(2, 8))
            anns[f"v_bench{i:06d}"] = {"duration": d, "timestamps": [[d * j / k, d * (j + 1) / k]
                                       for j in range(k)],
                                       "sentences": ["a man is doing something here"] * k}
    ann_path = os.path.join(folder, "ann.json")
    json.dump(anns, open(ann_path, "w"))
    feats = ((vid, rng.normal(size=(max(1, round(a["duration"] * 2)), dim)).astype(np.float32))
             for vid, a in anns.items())
    feat_path = os.path.join(folder, "feats.hdf5")
    write_features("c3d_hdf5", feat_path, feats)
    return ann_path, feat_path


def run_one(ann_path, feat_path, batch, epochs=1, readers=1):
    """Child process: `epochs` epochs through the pipeline; prints JSON for the last."""
    import tensorflow as tf  # noqa: F401
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.features import open_features
    from hse_tf.data.pipeline import make_dataset
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    anns = read_activitynet_captions(ann_path)
    vocab = Vocabulary.build([s for a in anns for s in a.sentences])
    split = VideoDataset(anns, open_features("c3d_hdf5", feat_path), vocab)
    try:
        ds, order = make_dataset(split, batch, shuffle=True, seed=0, readers=readers)
    except TypeError:  # a tree without parallel readers
        ds, order = make_dataset(split, batch, shuffle=True, seed=0)
    rss0 = proc_mb("VmRSS")
    rates = []
    for epoch in range(epochs):
        order.epoch = epoch
        t = time.perf_counter()
        n, tenth = 0, None
        for b in ds:
            n += int(b["clip_counts"].shape[0])
            if tenth is None and n >= len(split) // 10:
                tenth = proc_mb("VmRSS")  # after warm-up: buffers, h5py caches, prefetch full
        dt = time.perf_counter() - t
        rates.append(n / dt)
    rate = float(np.median(rates[1:] or rates))
    print(json.dumps({"videos": n, "seconds": dt, "rate": rate, "peak_mb": proc_mb("VmHWM"),
                      "rss_before_mb": rss0, "rss_10pct_mb": tenth, "rss_end_mb": proc_mb("VmRSS")}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="500,2000")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--readers", default="1")
    p.add_argument("--compare", help="another checkout's root (e.g. ../base): run it too")
    p.add_argument("--child", nargs=4)
    args = p.parse_args()
    if args.child:
        if os.environ.get("HSE_TREE"):  # the tree under test first (ROOT was put first above)
            sys.path.insert(0, os.environ["HSE_TREE"])
        return run_one(args.child[0], args.child[1], args.batch, int(args.child[2]),
                       int(args.child[3]))
    trees = [("this", ROOT)] + ([("base", os.path.abspath(args.compare))] if args.compare else [])
    print(f"{'videos':>8}{'file MB':>10}{'tree':>6}{'readers':>8}{'videos/s':>10}"
          f"{'RSS@10% MB':>12}{'RSS end MB':>12}{'peak MB':>9}")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            ann, feat = make_data(tmp, n)
            size = os.path.getsize(feat) / 2**20
            rates = {}
            for tree_name, tree in trees:
                for readers in [int(r) for r in args.readers.split(",")]:
                    if tree_name == "base" and readers > 1:
                        continue
                    # The child imports the tree's hse_tf (PYTHONPATH first).
                    out = subprocess.run([sys.executable, __file__, "--child", ann, feat,
                                          str(args.epochs), str(readers), "--batch",
                                          str(args.batch)], capture_output=True, text=True,
                                         env={**os.environ, "HSE_TREE": tree})
                    if out.returncode:
                        sys.exit(out.stderr[-3000:])
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    rates[tree_name, readers] = r["rate"]
                    print(f"{n:>8}{size:>10.0f}{tree_name:>6}{readers:>8}"
                          f"{rates[tree_name, readers]:>10.0f}{r['rss_10pct_mb']:>12.0f}"
                          f"{r['rss_end_mb']:>12.0f}{r['peak_mb']:>9.0f}", flush=True)
            if ("base", 1) in rates:
                print(f"{'':>8}{'':>10}  this / base (1 reader): "
                      f"{rates['this', 1] / rates['base', 1]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
