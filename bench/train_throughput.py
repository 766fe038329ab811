"""How fast does HSE train and evaluate, and how much memory does it take?

    python bench/train_throughput.py [--sizes paper,h256,demo] [--steps 4] [--eval_videos 4917]
        [--compare ../base] [--bucket_window 0] [--mixed_precision bfloat16]
        [--encoders gru,attention,attention:width_ratio=1.0]

--encoders: the encoder of every level (hse_tf.layers.ENCODERS; 'attention' with its default
options), each in its own process of this tree, so encoders compare in one run. An attention
entry may set options: 'attention:width=128', 'attention:width=hidden/2' (each size's hidden
size over 2), 'attention:width_ratio=1.0' (full width), as in `--encoders
gru,attention,attention:width_ratio=1.0`. With --compare, every size and encoder also runs
with the hse_tf of another checkout (e.g. the previous main: `git worktree add ../base
<commit>`) in the same run (entries with options: this tree only), and ratio tables compare
them.

For each model size, in a fresh process: HSE training videos/second (after two warm-up steps that
trace the graph) and the peak memory of the process; then the evaluation of a val_1-sized split:
embedding `--eval_videos` videos and the 4,917 x 4,917 paragraph<->video retrieval.

Each tree runs as its own trainer would: its CPU thread pools (`--cpu_threads auto` where the
tree has it) and its epoch order (length-bucketed where the tree has bucketing); the timed batches
are the first batches of one epoch over 30 batches' worth of videos.

Batches have ActivityNet shapes: videos drawn from the real train annotations when ../shared/data
is present (durations -> round(2 * duration) C3D features, the spec's clip cutting and 80-frame
subsampling, real sentence lengths), random feature values. Training batches are built once in
memory and the evaluation's features are made before its clock starts, so this measures the
model, not the input pipeline (bench/input_pipeline.py does that).
Sizes: paper = hidden 1024, C3D 500-d, 300-d words, >= 10k vocabulary, batch 64;
       demo  = configs/demo.flags (hidden 128, 64-d features, 50-d words, batch 32).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from memory import proc_mb  # noqa: E402
REAL = os.path.join(ROOT, "..", "shared", "data", "activitynet_captions", "train.json")

SIZES = {
    "paper": dict(hidden=1024, feature_dim=500, word_dim=300, vocab=10000, batch=64),
    "h256": dict(hidden=256, feature_dim=500, word_dim=300, vocab=10000, batch=64, tau=0.0),
    "demo": dict(hidden=128, feature_dim=64, word_dim=50, vocab=400, batch=32),
}


class RandomStore:
    """Feature store stand-in: random [round(2 * duration), D] arrays (C3D rate), made on first
    use and kept, so that timed passes measure the model, not numpy's random generator."""

    def __init__(self, durations, dim, seed):
        self.durations, self.dim = durations, dim
        self.rng = np.random.default_rng(seed)
        self.cache = {}

    def get(self, vid):
        if vid not in self.cache:
            n = max(1, round(self.durations[vid] * 2))
            self.cache[vid] = self.rng.normal(size=(n, self.dim)).astype(np.float32)
        return self.cache[vid]


def activitynet_split(n, size, seed=0):
    from hse_tf.data.annotations import VideoAnnotation, read_activitynet_captions
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    rng = np.random.default_rng(seed)
    if os.path.exists(REAL):
        pool = read_activitynet_captions(REAL, issues=IssueLog("skip"))
    else:  # ActivityNet-like: 30-240 s, 2-8 sentences of 8-20 words
        pool = []
        for i in range(500):
            d, k = float(rng.uniform(30, 240)), int(rng.integers(2, 9))
            pool.append(VideoAnnotation(
                video_id=f"v{i}", duration=d, segments=[(d * j / k, d * (j + 1) / k)
                                                        for j in range(k)],
                sentences=[" ".join(["word"] * int(rng.integers(8, 21)))] * k, source="synthetic"))
    picked = [pool[i] for i in rng.choice(len(pool), size=n, replace=len(pool) < n)]
    # Word ids do not change the cost; the vocabulary only needs the right size.
    vocab = Vocabulary.build([s for a in picked for s in a.sentences])
    store = RandomStore({a.video_id: a.duration for a in picked}, size["feature_dim"], seed)
    return VideoDataset(picked, store, vocab, IssueLog("skip"))


def encoder_arguments(spec, hidden):
    """build_model's encoder arguments for an --encoders entry: 'gru', 'attention', or
    'attention:KEY=VALUE;...' (VALUE an integer or hidden/K)."""
    kind, _, options = spec.partition(":")
    if kind == "gru":
        return {}
    attention = {}
    for pair in filter(None, options.split(";")):
        key, _, value = pair.partition("=")
        attention[key] = (hidden // int(value[7:]) if value.startswith("hidden/") else
                          float(value) if "." in value else int(value))
    return {"low_encoder": kind, "high_encoder": kind,
            **({"attention": attention} if attention else {})}


def run_size(name, steps, eval_videos, bucket_window=50, mixed_precision="none",
             encoder="gru"):
    import keras
    import tensorflow as tf

    from hse_tf.data.pipeline import batch_signature, batches
    from hse_tf.evaluation import embed_split
    from hse_tf.metrics import bidirectional_retrieval
    from hse_tf.models import build_model
    size = SIZES[name]
    keras.utils.set_random_seed(0)
    # Each tree trains as its trainer would: its CPU thread setting and its epoch order
    # (bucketed where the tree has bucketing); the timed batches are the first steps + 2
    # batches of one epoch over a pool of 30 batches' worth of videos.
    try:
        from hse_tf.cli import configure_cpu_threads
        configure_cpu_threads("auto")
    except ImportError:
        pass
    split = activitynet_split(size["batch"] * 30, size)
    split_eval = activitynet_split(eval_videos, size, seed=1)
    from hse_tf.data.pipeline import EpochOrder
    try:
        lengths = [sum(len(s) for s in w) for w in split.word_ids]
        order = EpochOrder(len(split), True, 0, lengths=lengths if bucket_window else None,
                           batch_size=size["batch"], window=bucket_window)
    except TypeError:  # a tree without bucketing
        order = EpochOrder(len(split), True, 0)
    picked = order.order()[:size["batch"] * (steps + 2)]
    data = list(batches(split, size["batch"], picked))
    ds = tf.data.Dataset.from_generator(lambda: iter(data),
                                        output_signature=batch_signature(size["feature_dim"]))
    vocab_size = max(size["vocab"], len(split.vocab), len(split_eval.vocab))
    loss = {"tau_high": size["tau"], "tau_low": size["tau"]} if "tau" in size else None
    if mixed_precision != "none":  # as the trainer's --mixed_precision (towers only)
        keras.config.set_dtype_policy(f"mixed_{mixed_precision}")
    kinds = encoder_arguments(encoder, size["hidden"])
    model = build_model("hse", feature_dim=size["feature_dim"], vocab_size=vocab_size,
                        word_dim=size["word_dim"], hidden=size["hidden"], loss=loss, **kinds)
    model.build_weights()
    keras.config.set_dtype_policy("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t)

    rss0 = proc_mb("VmRSS")
    model.fit(ds, epochs=1, verbose=0, callbacks=[Clock()])
    videos = sum(len(b["clip_counts"]) for b in data[2:])
    train_rate = videos / sum(times[2:])
    train_peak = proc_mb("VmHWM")

    for vid in split_eval.video_ids:  # features made before the clock starts (in memory)
        split_eval.store.get(vid)
    t = time.perf_counter()
    emb = embed_split(model, split_eval, batch_size=64, feature_dim=size["feature_dim"])
    t_embed = time.perf_counter() - t
    t = time.perf_counter()
    metrics = bidirectional_retrieval(emb["video"], emb["paragraph"])
    t_rank = time.perf_counter() - t
    return {"size": name, "encoder": encoder, "vocab": vocab_size, "hidden": size["hidden"], "batch": size["batch"],
            "clips_per_video": float(np.mean([len(b) for b in split.word_ids])),
            "first_step_s": times[0], "step_s": float(np.mean(times[2:])),
            "train_videos_per_s": train_rate, "rss_before_train_mb": rss0,
            "train_peak_mb": train_peak, "eval_videos": eval_videos, "embed_s": t_embed,
            "retrieval_s": t_rank, "eval_peak_mb": proc_mb("VmHWM"),
            "p2v_R@1_random_model": metrics["p2v"]["R@1"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="paper,demo")
    p.add_argument("--steps", type=int, default=4, help="timed training steps (after 2 warm-up)")
    p.add_argument("--eval_videos", type=int, default=4917)
    p.add_argument("--bucket_window", type=int, default=50,
                   help="this tree's bucketing window in batches (0: plain shuffling)")
    p.add_argument("--mixed_precision", default="none", choices=["none", "bfloat16", "float16"],
                   help="towers' compute type in every tree (the trainer's flag); the "
                        "embedding then also runs in it, where the trainer's evaluation "
                        "rebuilds in float32")
    p.add_argument("--encoders", default="gru", help="comma-separated: gru, attention")
    p.add_argument("--encoder", default="gru", help=argparse.SUPPRESS)
    p.add_argument("--child")
    p.add_argument("--compare", help="another checkout's root (e.g. ../base): run it too")
    p.add_argument("--tree", default=ROOT, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        sys.path.insert(0, os.path.abspath(args.tree))
        print("RESULT " + json.dumps(run_size(args.child, args.steps, args.eval_videos,
                                              args.bucket_window, args.mixed_precision,
                                              args.encoder)))
        return
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    print(f"device: {'GPU x%d' % len(gpus) if gpus else 'CPU'}, {os.cpu_count()} cores")
    encoders = args.encoders.split(",")
    trees = [("this", ROOT, e) for e in encoders] + (
        [("base", os.path.abspath(args.compare), e) for e in encoders if ":" not in e]
        if args.compare else [])
    head = (f"{'size':>6}{'tree':>6}{'encoder':>26}{'hidden':>7}{'batch':>6}{'step s':>8}{'videos/s':>10}"
            f"{'peak MB':>9}{'eval N':>8}{'embed s':>9}{'embed v/s':>10}{'rank s':>8}")
    print(head)
    rows = {}
    for name in args.sizes.split(","):
        for tree_name, tree, encoder in trees:
            # Each tree's child imports that tree's hse_tf (sys.path[0] = the tree).
            out = subprocess.run([sys.executable, __file__, "--child", name, "--steps",
                                  str(args.steps), "--eval_videos", str(args.eval_videos),
                                  "--tree", tree, "--bucket_window", str(args.bucket_window),
                                  "--mixed_precision", args.mixed_precision,
                                  "--encoder", encoder],
                                 capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": tree})
            if out.returncode:
                sys.exit(f"{name} ({tree}) failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.split("RESULT ", 1)[1])
            rows[name, tree_name, encoder] = r
            print(f"{name:>6}{tree_name:>6}{encoder:>26}{r['hidden']:>7}{r['batch']:>6}{r['step_s']:>8.2f}"
                  f"{r['train_videos_per_s']:>10.1f}{r['train_peak_mb']:>9.0f}"
                  f"{r['eval_videos']:>8}{r['embed_s']:>9.1f}"
                  f"{r['eval_videos'] / r['embed_s']:>10.1f}{r['retrieval_s']:>8.2f}", flush=True)
            print(f"       (first step incl. tracing {r['first_step_s']:.1f} s; "
                  f"{r['clips_per_video']:.2f} clips/video; vocabulary {r['vocab']})", flush=True)
    if "gru" in encoders:
        for e in encoders:
            if e != "gru":
                ratios(f"{e} / gru in this tree", rows, args.sizes, ("this", e), ("this", "gru"))
    if args.compare:
        for e in encoders:
            if ":" not in e:
                ratios(f"ratio this / base, {e}", rows, args.sizes, ("this", e), ("base", e))


def ratios(title, rows, sizes, top, bottom):
    print(f"\n{title} (higher is faster; peak memory: lower is smaller)")
    print(f"{'size':>6}{'train videos/s':>16}{'embed videos/s':>16}{'peak memory':>13}")
    for name in sizes.split(","):
        a, b = rows[(name, *top)], rows[(name, *bottom)]
        print(f"{name:>6}{a['train_videos_per_s'] / b['train_videos_per_s']:>15.2f}x"
              f"{b['embed_s'] / a['embed_s']:>15.2f}x"
              f"{a['train_peak_mb'] / b['train_peak_mb']:>12.2f}x")


if __name__ == "__main__":
    main()
