"""Which encoder retrieves best when the right answer is known? FSE, HSE-GRU, HSE-attention.

    python bench/quality.py [--data data/known_answer] [--train 2000] [--val 1000]
        [--noise STD] [--settings held,correlated,iid] [--epochs 10] [--seeds 0,1] [--hidden 256]
        [--models fse,hse_gru,hse_attention,attention_contextual,attention_cycle]
        (also: attention_full, attention_ff2, attention_mean_max, attention_warmup,
        attention_coot, attention_dropout)
        [--extra NAME=FLAGS ...]

--settings: the benchmark's settings (bench/known_answer.SETTINGS): "held" (the default
setting: noise correlated across frames, as real features are smooth in time, and a segment's
content on all its frames), "correlated" (the same noise, a segment's words shown in turn,
each spread over neighbouring frames) and "iid" (independent noise on every frame, one word
per frame span); each gets its own data folder under --data, and the table one row per
setting and model.

The data is bench/known_answer.py's (written to --data on first use, reused while its settings
match): ActivityNet-shaped features made from the real ActivityNet Captions, in which every clip
shows its own sentence's words under noise. Each model trains with the project's trainer
(`python -m hse_tf.train`, a fresh process per run) on --train videos and is evaluated on --val
videos of val_1, one run per seed. The table gives each model's mean over seeds (and the spread,
max - min, of P->V and V->P R@1) for paragraph->video, video->paragraph and sentence->clip
R@1/5/50 and median rank, and the median seconds per training epoch (no validation inside the
epochs: --eval_every=0), all from this one run.

--train: 2,000 keeps a table within about an hour on 2 cores, and measures learning from little
data (with --train 10009, every ActivityNet Captions training video, in a --data folder of its
own, HSE-GRU and HSE-attention double their R@1 at 5x the time; docs/encoders.md).
bench/reference.py gives the same data's simple read-outs (means, a linear map) as a scale.

--extra NAME=FLAGS adds a row: hse with the given trainer flags, e.g.
  --extra "ctx=--encoder=attention --contextual"  --extra "cmc=--encoder=attention --w_cycle=0.01"
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import known_answer  # noqa: E402

ROOT = os.path.dirname(HERE)
MODELS = {
    "fse": ["--model=fse"],
    "hse_gru": ["--model=hse", "--encoder=gru"],
    "hse_attention": ["--model=hse", "--encoder=attention"],  # attention pooling (default)
    # blocks over frames and words as wide as --hidden (before --width_ratio: half of it now)
    "attention_full": ["--model=hse", "--encoder=attention", "--width_ratio=1"],
    "attention_ff2": ["--model=hse", "--encoder=attention", "--ff_ratio=2"],  # width of before
    # dropout 0.1 in the blocks (the default before 2026-12-04: none now)
    "attention_dropout": ["--model=hse", "--encoder=attention", "--dropout=0.1"],
    "attention_mean_max": ["--model=hse", "--encoder=attention", "--pooling=mean_max"],
    "attention_contextual": ["--model=hse", "--encoder=attention", "--contextual"],
    "attention_cycle": ["--model=hse", "--encoder=attention", "--w_cycle=0.01"],
    # COOT's recipe: attention-aware pooling is the default now (hse_attention; the pooling of
    # before is attention_mean_max); a learning-rate warm-up; and all of it with contextual
    # attention over an encoded context
    "attention_warmup": ["--model=hse", "--encoder=attention", "--warmup_epochs=1"],
    "attention_coot": ["--model=hse", "--encoder=attention", "--pooling=attention",
                       "--warmup_epochs=1", "--contextual", "--context_layers=1"],
}
DEFAULT_MODELS = ("fse", "hse_gru", "hse_attention", "attention_contextual", "attention_cycle")
EPOCH_SECONDS = re.compile(r"\|\s*([0-9.]+)s epoch")
DIRECTIONS = {"p2v": "P->V", "v2p": "V->P", "sentence2clip": "S->C"}  # results.json keys


def train_once(paths, flags, seed, args, scratch):
    """One training run in a fresh process: (results.json dict, [seconds per epoch])."""
    run_dir = tempfile.mkdtemp(prefix="run-", dir=scratch)
    os.rmdir(run_dir)  # the trainer makes it (and refuses a folder that holds a run)
    cmd = [sys.executable, "-m", "hse_tf.train", "--dataset=activitynet",
           f"--train_annotations={paths['train']}", f"--val_annotations={paths['val_1']}",
           f"--features={paths['features']}", "--feature_layout=c3d_hdf5", "--cache_features",
           f"--word_vectors={paths['word_vectors']}", f"--hidden={args.hidden}",
           f"--epochs={args.epochs}", f"--batch_size={args.batch_size}", "--eval_every=0",
           f"--lr_decay_every={args.epochs}", f"--seed={seed}", f"--run_dir={run_dir}",
           "--verbose=2", "--projector_max=0", *flags]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode:
        sys.exit(f"quality: {' '.join(flags)} seed {seed} failed:\n{out.stderr[-3000:]}")
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    return results, [float(s) for s in EPOCH_SECONDS.findall(out.stdout)]


def summarise(runs):
    """Mean over seeds of every metric, the R@1 spread, and the median epoch seconds."""
    row = {}
    for d in DIRECTIONS:
        if all(d in r for r, _ in runs):
            row[d] = {k: float(np.mean([r[d][k] for r, _ in runs]))
                      for k in ("R@1", "R@5", "R@50", "MR")}
            row[d]["spread"] = float(np.ptp([r[d]["R@1"] for r, _ in runs]))
    row["s_epoch"] = float(np.median([s for _, secs in runs for s in secs]))
    return row


def table(rows, seeds):
    head = f"{'setting/model':<32}" + "".join(f"{label + ' R@1/5/50 MR':>26}"
                                      for label in DIRECTIONS.values())
    lines = [f"mean of {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
             f"(+-x): max - min of R@1 over the seeds", head + f"{'s/epoch':>9}"]
    for name, row in rows.items():
        cells = []
        for d in DIRECTIONS:
            m = row.get(d)
            cells.append(f"{'-':>26}" if m is None else
                         f"{m['R@1']:>6.1f}(+-{m['spread']:.1f}) {m['R@5']:>5.1f} "
                         f"{m['R@50']:>5.1f} {m['MR']:>4.0f}")
        lines.append(f"{name:<32}" + "".join(cells) + f"{row['s_epoch']:>9.1f}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(ROOT, "data", "known_answer"))
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--noise", type=float, help="noise std of every setting (default: each "
                   "setting's own, bench/known_answer.SETTINGS)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--settings", default="held,correlated,iid",
                   help=f"noise settings, of {sorted(known_answer.SETTINGS)}")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated, of {sorted(MODELS)}")
    p.add_argument("--extra", action="append", default=[], metavar="NAME=FLAGS")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = {m: MODELS[m] for m in args.models.split(",") if m}
    for extra in args.extra:
        name, _, flags = extra.partition("=")
        variants[name] = ["--model=hse", *shlex.split(flags)]
    rows = {}
    for setting in args.settings.split(","):
        data = os.path.join(args.data, setting)
        chosen = {**known_answer.SETTINGS[setting],
                  **({} if args.noise is None else {"noise": args.noise})}
        paths = known_answer.ensure(data, n_train=args.train, n_val=args.val, dim=args.dim,
                                    seed=0, **chosen)
        print(f"data: {data} ({args.train} train / {args.val} val videos, "
              f"{setting}: {chosen}); hidden {args.hidden}, "
              f"{args.epochs} epochs, batch {args.batch_size}", flush=True)
        with tempfile.TemporaryDirectory(prefix="quality-") as scratch:
            for name, flags in variants.items():
                runs = []
                for seed in seeds:
                    runs.append(train_once(paths, flags, seed, args, scratch))
                    r = runs[-1][0]
                    print(f"  {setting} {name} seed {seed}: p2v R@1 {r['p2v']['R@1']:.1f}, v2p "
                          f"R@1 {r['v2p']['R@1']:.1f} ({' '.join(flags)})", flush=True)
                rows[f"{setting}/{name}"] = summarise(runs)
    print(table(rows, seeds))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
