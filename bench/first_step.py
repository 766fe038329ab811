"""Where does the first training step's time go: tracing, Grappler, or running? And what helps?

    python bench/first_step.py [--sizes demo,paper] [--variants default,no_grappler] [--steps 12]
        [--compare ../base]

For each size and variant, in a fresh process of this tree (and of --compare's, e.g. the
previous main, default variant only), with the trainer's setup (its CPU threads, the demo's
batches from configs/demo.flags' data, or ActivityNet-shaped paper-size batches):
  - trace: Python tracing of the model's train_step into a graph (tf.function over the
    pipeline's batch signature, as Keras traces it; get_concrete_function);
  - first call: the first step after the trace (graph optimisation by Grappler, kernel set-up
    and the step itself);
  - step: the median of the later steps;
  - fit to end of step 1: what `model.fit` waits before its first step ends (the trace, the
    first call and Keras' own set-up), in a second fresh model of the same process.
Variants: default (the optimizer's slots made during the first trace, so TensorFlow traces
the step twice); prebuilt (optimizer.build before the trace, as the trainer does now);
and, prebuilt too, no_grappler (tf.config.optimizer: disable_meta_optimizer) and light_grappler
(Grappler without its costliest passes: constant folding, arithmetic, remapping, layout,
dependency and loop optimisation).

--demo_command: instead, the real thing in each tree, `python -m hse_tf.train
--flagfile=configs/demo.flags --verbose=2` into a scratch run folder: the first epoch (which
holds the first step's trace and the first validation's), the median later epoch, and the whole
command's wall time.
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
VARIANTS = {  # tf.config.optimizer options (Grappler), and whether the optimizer is built first
    "default": {},
    "prebuilt": {},
    "no_grappler": {"disable_meta_optimizer": True},
    "light_grappler": {"constant_folding": False, "arithmetic_optimization": False,
                       "remapping": False, "layout_optimizer": False,
                       "dependency_optimization": False, "loop_optimization": False},
}


def demo_batches(steps):
    """The demo's first batches (configs/demo.flags: its data, batch 32) and its sizes."""
    import tempfile

    from hse_tf.data import demo
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import open_features
    from hse_tf.data.pipeline import batches
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    out = tempfile.mkdtemp(prefix="first-step-")
    paths = demo.write(out)
    anns = read_activitynet_captions(paths["train"])
    vocab = Vocabulary.build([s for a in anns for s in a.sentences])
    split = VideoDataset(anns, open_features("c3d_hdf5", paths["features"]), vocab, IssueLog())
    order = np.random.default_rng(0).permutation(len(split))[:32 * steps]
    return list(batches(split, 32, order)), dict(hidden=128, feature_dim=64, word_dim=50,
                                                 vocab=len(vocab))


def paper_batches(steps):
    sys.path.insert(0, HERE)
    from train_throughput import SIZES, activitynet_split

    from hse_tf.data.pipeline import batches
    size = SIZES["paper"]
    split = activitynet_split(64 * steps, size)
    return list(batches(split, 64, np.arange(len(split)))), size


def child(size_name, variant, steps, tree):
    sys.path.insert(0, tree)
    try:
        from hse_tf.cli import configure_cpu_threads
        configure_cpu_threads("auto")
    except ImportError:
        pass
    import keras
    import tensorflow as tf

    from hse_tf.data.pipeline import batch_signature
    from hse_tf.models import build_model
    if VARIANTS[variant]:
        tf.config.optimizer.set_experimental_options(VARIANTS[variant])
    data, size = (demo_batches if size_name == "demo" else paper_batches)(steps)

    def new_model():
        keras.utils.set_random_seed(0)
        model = build_model("hse", feature_dim=size["feature_dim"], vocab_size=size["vocab"],
                            word_dim=size["word_dim"], hidden=size["hidden"])
        model.build_weights()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        if variant != "default":  # as the trainer does since this change
            model.optimizer.build(model.trainable_variables)
        return model

    def dataset():
        return tf.data.Dataset.from_generator(
            lambda: iter(data), output_signature=batch_signature(size["feature_dim"]))

    # 1. The parts, on the model's train_step traced as Keras traces it (one tf.function over a
    # batch of the pipeline's signature).
    model = new_model()
    signature = batch_signature(size["feature_dim"])
    step = tf.function(model.train_step, input_signature=[signature], reduce_retracing=True)
    t = time.perf_counter()
    step.get_concrete_function(signature)
    trace = time.perf_counter() - t
    times = []
    for batch in data:
        t = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - t)
    # 2. What fit waits for, from a fresh model.
    model2 = new_model()
    start = time.perf_counter()
    marks = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append(time.perf_counter() - start)

    model2.fit(dataset(), epochs=1, verbose=0, callbacks=[Clock()])
    return {"trace_s": trace, "first_call_s": times[0], "step_s": float(np.median(times[2:])),
            "fit_first_step_s": marks[0], "fit_total_s": marks[-1], "steps": len(data)}


def demo_command(tree):
    """(first epoch s, median later epoch s, wall s) of the demo training in `tree`."""
    import re
    import tempfile
    with tempfile.TemporaryDirectory(prefix="demo-") as scratch:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "hse_tf.train",
                              "--flagfile=configs/demo.flags", f"--demo_dir={scratch}/data",
                              f"--run_dir={scratch}/run", "--verbose=2"], cwd=tree,
                             capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(f"first_step: the demo training failed in {tree}:\n{out.stderr[-2000:]}")
    epochs = [float(x) for x in re.findall(r"([0-9.]+)s epoch", out.stdout)]
    return epochs[0], float(np.median(epochs[1:])), wall


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="demo")
    p.add_argument("--variants", default="default,prebuilt,no_grappler,light_grappler")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--compare", help="another checkout (e.g. ../base): its default variant")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--demo_command", action="store_true")
    args = p.parse_args()
    if args.demo_command:
        trees = [("this", ROOT)] + ([("base", os.path.abspath(args.compare))]
                                    if args.compare else [])
        print(f"{'tree':<6}{'epoch 1 s':>10}{'later epoch s':>15}{'wall s':>8}")
        for name, tree in trees:
            first, later, wall = demo_command(tree)
            print(f"{name:<6}{first:>10.1f}{later:>15.1f}{wall:>8.1f}", flush=True)
        return
    if args.child:
        size, variant, tree = args.child
        print("RESULT " + json.dumps(child(size, variant, args.steps, tree)))
        return
    runs = [(s, v, "this", ROOT) for s in args.sizes.split(",")
            for v in args.variants.split(",")]
    if args.compare:
        runs += [(s, "default", "base", os.path.abspath(args.compare))
                 for s in args.sizes.split(",")]
    print(f"{'size':<7}{'tree':<6}{'variant':<16}{'trace s':>9}{'1st call s':>11}"
          f"{'step s':>8}{'fit: 1st step s':>16}{'fit total s':>12}")
    for size, variant, name, tree in sorted(runs, key=lambda r: r[0]):
        out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child",
                              size, variant, tree], capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=tree)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            print(f"{size:<7}{name:<6}{variant:<16} failed: {out.stderr[-600:]}")
            continue
        r = json.loads(line[0][7:])
        print(f"{size:<7}{name:<6}{variant:<16}{r['trace_s']:>9.1f}{r['first_call_s']:>11.1f}"
              f"{r['step_s']:>8.3f}{r['fit_first_step_s']:>16.1f}{r['fit_total_s']:>12.1f}",
              flush=True)


if __name__ == "__main__":
    main()
