"""Serving latency and throughput: gRPC on loopback vs calling the SavedModel directly.

    python bench/serving_latency.py [--hidden 1024] [--requests 200] [--clients 4]
        [--encoders gru,attention]

For each encoder (hse_tf.layers.ENCODERS at every level, 'attention' with its default options),
in this one run: exports an (untrained, seeded) HSE model of the given size with C3D-sized
features, starts the
development gRPC server (hse_tf.serving.server) on loopback, and measures:
  - single-paragraph and single-video requests, one client: p50 / p99 latency, requests/s;
  - the same with --clients concurrent clients: requests/s, without and with server-side
    batching (a second server started with serving/batching.config's parameters, as TF
    Serving's --enable_batching);
  - the SavedModel called directly (no gRPC), one request at a time: p50 and requests/s.
Requests are ActivityNet-shaped: a paragraph of 4 sentences of ~13 words; a 120 s video
(240 C3D features) with 4 clips.
"""

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SENTENCES = ["a man is standing on a surfboard in the middle of the ocean waves",
             "he paddles out to the big wave and stands up on the board quickly",
             "the man rides the wave all the way to the beach while people watch",
             "he falls off the board into the water and swims back to the shore"]


def percentile_ms(times, q):
    return 1000 * float(np.percentile(times, q))


def timed(fn, n):
    fn()  # warm-up (tracing, connection)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def concurrent_rate(make_fn, clients, n):
    fns = [make_fn() for _ in range(clients)]
    for f in fns:
        f()

    def run(f):
        for _ in range(n):
            f()
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, fns))
    return clients * n / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--feature_dim", type=int, default=500)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--cpu_threads", default="auto",
                   help="thread pools, as the development server's flag (auto, default, I,J)")
    p.add_argument("--encoders", default="gru",
                   help="comma-separated encoders, each measured in turn (a tree without "
                        "attention encoders measures 'gru' only)")
    args = p.parse_args()
    try:  # as the server does (a tree without the setting keeps TensorFlow's default)
        from hse_tf.cli import configure_cpu_threads
        threads = configure_cpu_threads(args.cpu_threads)
    except ImportError:
        threads = None
    for encoder in args.encoders.split(","):
        measure(args, encoder, threads)


def measure(args, encoder, threads):
    import keras
    import tensorflow as tf

    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import model_from_config
    from hse_tf.export import export_encoders
    from hse_tf.serving.client import HSEClient
    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.batching import BatchingParameters
    from hse_tf.serving.server import start_server

    keras.utils.set_random_seed(0)
    vocab = Vocabulary.build(SENTENCES)
    config = {"model": "hse", "hidden": args.hidden}
    if encoder != "gru":
        config["encoder"] = encoder
    model = model_from_config(config, args.feature_dim, 10000, 300)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(240, args.feature_dim)).astype(np.float32)
    times = [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 120.0)]
    with tempfile.TemporaryDirectory() as out:
        export_encoders(model, vocab, out)
        registry = ModelRegistry.from_dir(out)
        server, port, _ = start_server(registry)
        target = f"127.0.0.1:{port}"
        batching = BatchingParameters.from_file(os.path.join(os.path.dirname(HERE), "serving",
                                                             "batching.config"))
        b_server, b_port, _ = start_server(registry, batching=batching)
        client = HSEClient(target)
        text_fn = lambda c=client: c.embed_paragraphs([SENTENCES])  # noqa: E731
        video_fn = lambda c=client: c.embed_videos([feats], [times], [120.0])  # noqa: E731
        text_sig = registry.get("hse_text").signatures["serving_default"]
        video_sig = registry.get("hse_video").signatures["serving_default"]
        direct = {
            "paragraph": lambda: text_sig(sentences=tf.constant([SENTENCES]),
                                          sentence_counts=tf.constant([4], tf.int64)),
            "video": lambda: video_sig(
                features=tf.constant(feats[None]), feature_lengths=tf.constant([240], tf.int64),
                clip_times=tf.constant([times], tf.float64),
                clip_counts=tf.constant([4], tf.int64), durations=tf.constant([120.0],
                                                                              tf.float64)),
        }
        print(f"encoder {encoder}, hidden {args.hidden}, features {args.feature_dim}-d, {args.requests} requests, "
              f"{os.cpu_count()} CPU cores, {len(tf.config.list_physical_devices('GPU'))} GPUs, "
              f"thread pools (intra, inter) {threads or 'TensorFlow default'}")
        print(f"{'request':>10}{'path':>22}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
        for name, fn in (("paragraph", text_fn), ("video", video_fn)):
            t = timed(fn, args.requests)
            print(f"{name:>10}{'gRPC, 1 client':>22}{percentile_ms(t, 50):>9.1f}"
                  f"{percentile_ms(t, 99):>9.1f}{len(t) / sum(t):>9.1f}", flush=True)

            def make(name=name):
                c = HSEClient(target)
                return (lambda: c.embed_paragraphs([SENTENCES])) if name == "paragraph" else (
                    lambda: c.embed_videos([feats], [times], [120.0]))
            rate = concurrent_rate(make, args.clients, args.requests // args.clients)
            print(f"{name:>10}{f'gRPC, {args.clients} clients':>22}{'':>9}{'':>9}{rate:>9.1f}",
                  flush=True)

            def make_batched(name=name):
                c = HSEClient(f"127.0.0.1:{b_port}")
                return (lambda: c.embed_paragraphs([SENTENCES])) if name == "paragraph" else (
                    lambda: c.embed_videos([feats], [times], [120.0]))
            rate_b = concurrent_rate(make_batched, args.clients, args.requests // args.clients)
            print(f"{name:>10}{f'batching, {args.clients} clients':>22}{'':>9}{'':>9}"
                  f"{rate_b:>9.1f}   x{rate_b / rate:.2f}", flush=True)
            t = timed(direct[name], args.requests)
            print(f"{name:>10}{'SavedModel direct':>22}{percentile_ms(t, 50):>9.1f}"
                  f"{percentile_ms(t, 99):>9.1f}{len(t) / sum(t):>9.1f}", flush=True)
        client.close()
        server.stop(None)
        b_server.stop(None)


if __name__ == "__main__":
    main()
