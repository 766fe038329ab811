"""The packed GRU's inference calls, this tree against another tree's, in one process.

    python bench/gru_inference.py --compare ../base [--calls 60]

Both trees' `hse_tf/layers/packed_gru.py` run the same Keras GRU cell (same weights) on the
request shapes of bench/serving_latency.py and on an embedding batch, alternating calls so that
both see the same machine load (absolute times here drift by 30% from hour to hour). Prints the
median time per call of each, their ratio, and the largest difference between their outputs.
"""

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# name: (input size, row lengths); hidden 1024 throughout (paper size).
CASES = {
    "paragraph: 4 sentences + whole, 300-d words": (300, [14] * 4 + [56]),
    "paragraph level: 4 sentence embeddings": (1024, [4]),
    "1 video: 4 clips + whole, 500-d": (500, [60] * 4 + [80]),
    "4 videos (a batch of requests)": (500, [60] * 16 + [80] * 4),
    "embedding batch: 64 videos": (500, [60] * 320 + [80] * 64),
}


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--compare", required=True, help="another checkout (a git worktree)")
    p.add_argument("--calls", type=int, default=60, help="timed calls per case and tree")
    args = p.parse_args()
    from hse_tf.cli import configure_cpu_threads
    configure_cpu_threads("auto")
    import keras
    import tensorflow as tf

    from hse_tf.layers import packed_gru
    other = load_module(os.path.join(args.compare, "hse_tf", "layers", "packed_gru.py"),
                        "other_packed_gru")
    trees = {"this": packed_gru, "other": other}
    rng = np.random.default_rng(0)
    print(f"hidden 1024, {os.cpu_count()} CPU cores; other = {args.compare}")
    print(f"{'case':46s}{'this ms':>9s}{'other ms':>10s}{'ratio':>8s}{'max diff':>10s}")
    for name, (dim, lengths) in CASES.items():
        gru = keras.layers.GRU(1024, return_sequences=True)
        gru.build((None, None, dim))
        gru.cell.bias.assign(rng.normal(scale=0.1, size=(2, 3072)).astype(np.float32))
        lengths = tf.constant(lengths, tf.int32)
        x = tf.constant(rng.normal(size=(int(tf.reduce_sum(lengths)), dim)).astype(np.float32))
        fns = {k: tf.function(lambda x, n, m=m: m.encode_max(gru.cell, x, n))
               for k, m in trees.items()}
        outs = {k: f(x, lengths) for k, f in fns.items()}  # traces, warms the caches
        calls = max(4, args.calls // 8) if lengths.shape[0] > 100 else args.calls
        times = {k: [] for k in fns}
        for i in range(calls):
            for k in (("this", "other") if i % 2 else ("other", "this")):
                start = time.perf_counter()
                fns[k](x, lengths)
                times[k].append(time.perf_counter() - start)
        this, base = (1000 * float(np.median(times[k])) for k in ("this", "other"))
        diff = float(tf.reduce_max(tf.abs(outs["this"] - outs["other"])))
        print(f"{name:46s}{this:9.2f}{base:10.2f}{base / this:7.2f}x{diff:10.1e}")


if __name__ == "__main__":
    main()
