"""How fast could a request's GRUs be if nothing but their matrix products took time?

    python bench/serving_ceiling.py [--calls 40]

For the request shapes of bench/serving_latency.py (paper size, hidden 1024), with the
development server's thread pools (--cpu_threads auto), one process, it times:
  - `call`: the packed GRU's inference call (hse_tf.layers.packed_gru.encode_max);
  - `products`: its matrix products alone, split and ordered as the call splits them
    (`split_product`): the input projection, then per step the recurrent product of the rows
    still running, each step's state a slice of the previous product (no gates, no pooling,
    no gathers);
  - `peak`: one large product, [4096, 1024] x [1024, 3072], split the same way: what this CPU's
    matrix products reach at best.
A call cannot be faster than its products, and every product is needed (the model's FLOPs), so
`products` bounds what any change around them can give. The last lines turn the bound into
requests/s: a merged batch of 4 requests cannot come faster than its GRUs' products, plus the
batch timeout that an under-full batch waits (serving/batching.config), plus gRPC (not counted).
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# name: (input size, row lengths, row starts or None for rows back to back); hidden 1024.
# As bench/serving_latency.py's requests: a paragraph of 4 sentences of 14 words (the whole
# paragraph's row reads the sentences' words), a 120 s video of 240 features with 4 clips of 60
# (all frames) plus the whole video subsampled to 80 frames (hse_tf.data.clips.MAX_FRAMES).
CASES = {
    "paragraph: 4 sentences + whole": (300, [14] * 4 + [56], [0, 14, 28, 42, 0]),
    "paragraph level: 4 sentences": (1024, [4], None),
    "1 video: 4 clips + whole": (500, [60] * 4 + [80], None),
    "1 video, clip level: 4 clips": (1024, [4], None),
    "4 videos: 16 clips + 4 wholes": (500, [60] * 16 + [80] * 4, None),
    "4 videos, clip level: 4 x 4 clips": (1024, [4] * 4, None),
    "64 videos (an embedding batch)": (500, [60] * 256 + [80] * 64, None),
}
REQUESTS = {  # requests/s bounds: (requests per call, the cases that make one call)
    "paragraph, one request": (1, ["paragraph: 4 sentences + whole",
                                   "paragraph level: 4 sentences"]),
    "video, batch of 4 (4 clients)": (4, ["4 videos: 16 clips + 4 wholes",
                                          "4 videos, clip level: 4 x 4 clips"]),
    "video, one request": (1, ["1 video: 4 clips + whole", "1 video, clip level: 4 clips"]),
}


def median_ms(fn, args, calls):
    fn(*args)  # trace and warm up
    fn(*args)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=40, help="timed calls per case (fewer for 64)")
    p.add_argument("--batching_config", default=os.path.join(os.path.dirname(HERE), "serving",
                                                             "batching.config"),
                   help="its batch_timeout_micros is the wait of an under-full batch")
    args = p.parse_args()
    from hse_tf.serving.batching import BatchingParameters
    timeout_ms = BatchingParameters.from_file(args.batching_config).batch_timeout_micros / 1000
    from hse_tf.cli import configure_cpu_threads
    threads = configure_cpu_threads("auto")
    import keras
    import tensorflow as tf

    from hse_tf.layers.packed_gru import Packing, encode_max, split_product

    def products(cell, x, lengths):
        packing = Packing(lengths)
        units = cell.units
        projected = split_product(cell.kernel)(x)
        recurrent = split_product(cell.recurrent_kernel)
        with tf.control_dependencies([projected]):  # as the call: the loop after the projection
            h0 = tf.zeros([packing.rows, units], x.dtype)

        def body(t, h):
            return t + 1, recurrent(h[:packing.active[t]])[:, :units]

        _, h = tf.while_loop(lambda t, h: t < packing.steps, body, (0, h0),
                             shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, units])))
        return h, projected

    rng = np.random.default_rng(0)
    print(f"hidden 1024, {os.cpu_count()} CPU cores, thread pools (intra, inter) {threads}")
    a = tf.constant(rng.normal(size=(4096, 1024)).astype(np.float32))
    w = tf.constant(rng.normal(size=(1024, 3072)).astype(np.float32))
    peak_ms = median_ms(tf.function(split_product(w)), (a,), 10)
    peak = 2 * 4096 * 1024 * 3072 / peak_ms / 1e6
    print(f"peak: [4096, 1024] x [1024, 3072] in two halves: {peak_ms:.1f} ms = "
          f"{peak:.0f} GFLOP/s")
    print(f"{'case':36s}{'GFLOP':>8s}{'call ms':>9s}{'GFLOP/s':>9s}{'products ms':>13s}"
          f"{'GFLOP/s':>9s}{'products/call':>15s}")
    measured = {}
    for name, (dim, lengths, starts) in CASES.items():
        gru = keras.layers.GRU(1024, return_sequences=True)
        gru.build((None, None, dim))
        cell = gru.cell
        lengths_t = tf.constant(lengths, tf.int32)
        values = max(s + n for s, n in zip(starts, lengths)) if starts else sum(lengths)
        x = tf.constant(rng.normal(size=(values, dim)).astype(np.float32))
        starts_t = None if starts is None else tf.constant(starts, tf.int32)
        call = tf.function(lambda x, n, s=starts_t, c=cell: encode_max(c, x, n, starts=s))
        only = tf.function(lambda x, n, c=cell: products(c, x, n))
        calls = max(4, args.calls // 8) if len(lengths) > 100 else args.calls
        call_ms = median_ms(call, (x, lengths_t), calls)
        only_ms = median_ms(only, (x, lengths_t), calls)
        gflop = 2 * 3 * 1024 * (values * dim + sum(lengths) * 1024) / 1e9
        measured[name] = (gflop, call_ms, only_ms)
        print(f"{name:36s}{gflop:8.2f}{call_ms:9.2f}{gflop / call_ms * 1e3:9.0f}{only_ms:13.2f}"
              f"{gflop / only_ms * 1e3:9.0f}{only_ms / call_ms:14.0%}", flush=True)
    print(f"requests/s that the GRUs' products alone allow (+ {timeout_ms:g} ms batch "
          f"timeout for merged calls; gRPC not counted), as split today and if they ran at "
          f"the peak:")
    for label, (n, names) in REQUESTS.items():
        ms = sum(measured[k][2] for k in names)
        at_peak = sum(measured[k][0] for k in names) / peak * 1e3
        wait = timeout_ms if n > 1 else 0.0
        print(f"  {label:34s} products {ms:6.2f} ms -> at most {1000 * n / (ms + wait):6.1f} "
              f"req/s; at the peak {at_peak:6.2f} ms -> {1000 * n / (at_peak + wait):6.1f} req/s")


if __name__ == "__main__":
    main()
