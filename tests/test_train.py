"""Training end to end on the tiny demo: checkpoints, resume, a SIGKILLed run, evaluation."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT, checkpoint_weights, tiny_config


def test_train_writes_checkpoints_logs_and_results(tiny_demo, tmp_path):
    from hse_tf.training import train
    run = str(tmp_path / "run")
    results = train(tiny_config(tiny_demo, run), run, verbose=0, projector_max=10,
                    profile_steps=(2, 3))
    assert set(results) >= {"p2v", "v2p", "sentence2clip", "clip2sentence"}
    # --profile_steps=2,3: one TensorBoard profile under logs/train/plugins/profile/<run>/.
    profiles = os.path.join(run, "logs", "train", "plugins", "profile")
    (session,) = os.listdir(profiles)
    assert any(n.endswith(".xplane.pb") for n in os.listdir(os.path.join(profiles, session)))
    assert os.path.isdir(os.path.join(run, "ckpt-0001")) and os.path.isdir(
        os.path.join(run, "ckpt-0002"))
    state = json.load(open(os.path.join(run, "ckpt-0002", "state.json")))
    assert state["epoch"] == 2 and state["step"] == 2 * (48 // 16)
    assert state["learning_rate"] == pytest.approx(1e-5)  # x0.1 after each epoch here
    assert json.load(open(os.path.join(run, "results.json"))) == json.loads(json.dumps(results))
    assert os.path.exists(os.path.join(run, "logs", "projector", "projector_config.pbtxt"))
    assert len(open(os.path.join(run, "logs", "projector", "metadata.tsv")).readlines()) == 11
    assert os.listdir(os.path.join(run, "logs", "validation"))


def test_resume_equals_uninterrupted(tiny_demo, tmp_path):
    from hse_tf.training import train
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    # With length bucketing (--bucket_window): its per-epoch order is resumable too.
    cfg = dict(bucket_window=50)
    train(tiny_config(tiny_demo, full, epochs=2, **cfg), full, verbose=0, deterministic=True,
          projector_max=0)
    train(tiny_config(tiny_demo, part, epochs=1, **cfg), part, verbose=0, deterministic=True,
          projector_max=0)
    train(tiny_config(tiny_demo, part, epochs=2, **cfg), part, resume=True, verbose=0,
          deterministic=True, projector_max=0)
    state = json.load(open(os.path.join(part, "ckpt-0002", "state.json")))
    assert state["step"] == 6
    for a, b in zip(checkpoint_weights(full), checkpoint_weights(part)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # One copy of the optimizer: Keras' weights file holds Adam's step and moments (what the
    # resume above restored), and no optimizer.npz beside it.
    import h5py
    ckpt = os.path.join(part, "ckpt-0001")
    assert sorted(os.listdir(ckpt)) == ["model.weights.h5", "state.json"]
    with h5py.File(os.path.join(ckpt, "model.weights.h5")) as f:
        saved = [f["optimizer/vars"][k][()] for k in sorted(f["optimizer/vars"], key=int)]
    assert int(saved[0]) == 3 and len(saved) > 3  # 3 steps in epoch 1, then the moments


@pytest.mark.slow
def test_sigkill_mid_training_then_resume(tiny_demo, tmp_path):
    run = str(tmp_path / "killed")
    cfg = tiny_config(tiny_demo, run, epochs=4)
    args = [sys.executable, "-m", "hse_tf.train", "--dataset=activitynet",
            f"--train_annotations={cfg['train_annotations']}",
            f"--val_annotations={cfg['val_annotations']}", f"--features={cfg['features']}",
            f"--word_vectors={cfg['word_vectors']}", "--hidden=8", "--batch_size=16",
            "--epochs=4", f"--run_dir={run}", "--verbose=2", "--projector_max=0"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not os.path.exists(os.path.join(run, "checkpoint.json")) and time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("training exited before its first checkpoint")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # somewhere in epoch 2 (or while saving it)
    proc.wait()
    done = subprocess.run(args + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "val p2v R@1" in done.stdout
    state = json.load(open(os.path.join(run, "ckpt-0004", "state.json")))
    assert state["epoch"] == 4 and state["step"] == 4 * 3
    leftovers = [n for n in os.listdir(run) if n.startswith(".tmp")]
    assert not [n for n in leftovers if "checkpoint.json" in n]
    # --resume on the finished run: says so, prints its results, exits 0 (no training).
    again = subprocess.run(args + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "run complete, trained for 4 epochs" in again.stdout
    results = json.load(open(os.path.join(run, "results.json")))
    assert f"{'p2v':<15}{results['p2v']['R@1']:>7.1f}{results['p2v']['R@5']:>7.1f}" in again.stdout
    assert not os.path.exists(os.path.join(run, "ckpt-0005"))


def test_evaluate_cli_outputs(trained_run, tiny_demo, tmp_path):
    from hse_tf import evaluate
    out = str(tmp_path / "eval.json")
    res = evaluate.run(trained_run, incomplete_max_k=2, proposals=(1, 3), out=out)
    saved = json.load(open(out))
    # The command's retrieval over the run's validation split is the trainer's final one.
    final = json.load(open(os.path.join(trained_run, "results.json")))
    for direction in ("p2v", "v2p", "sentence2clip", "clip2sentence"):
        for k in ("R@1", "R@5", "MR"):
            assert saved["retrieval"][direction][k] == pytest.approx(final[direction][k]), (
                direction, k)
    assert saved["videos"] == 16 and set(saved["incomplete_observation"]) == {"1", "2"}
    assert set(res["uniform_proposals"]) == {1, 3}
    # Proposal quality depends on the annotations alone: 3 equal thirds of each video against
    # its segments at tIoU >= 0.5, by hand.
    anns = json.load(open(tiny_demo["val_1"]))
    precision, recall = [], []
    for a in anns.values():
        d, gt = a["duration"], a["timestamps"]
        thirds = [(i * d / 3, (i + 1) * d / 3) for i in range(3)]

        def iou(p, g):
            inter = max(0.0, min(p[1], g[1]) - max(p[0], g[0]))
            return inter / (max(p[1], g[1]) - min(p[0], g[0]))
        precision.append(np.mean([any(iou(p, g) >= 0.5 for g in gt) for p in thirds]))
        recall.append(np.mean([any(iou(p, g) >= 0.5 for p in thirds) for g in gt]))
    assert res["uniform_proposals"][3]["precision"] == pytest.approx(100 * np.mean(precision))
    assert res["uniform_proposals"][3]["recall"] == pytest.approx(100 * np.mean(recall))


def test_fse_and_weak_and_hardest_train(tiny_demo, tmp_path):
    from hse_tf.training import train
    for name, over in [("fse", {"model": "fse"}), ("weak", {"weak_low": True}),
                       ("hard", {"hardest_negative": True, "flat_context": False})]:
        run = str(tmp_path / name)
        res = train(tiny_config(tiny_demo, run, epochs=1, **over), run, verbose=0,
                    projector_max=0)
        assert json.load(open(os.path.join(run, "results.json"))) == json.loads(json.dumps(res))
        logs = json.load(open(os.path.join(run, "ckpt-0001", "state.json")))["logs"]
        terms = {k: v for k, v in logs.items() if k != "loss"}
        # The logged loss is the sum of the logged (weighted) terms: each variant's own.
        assert logs["loss"] == pytest.approx(sum(terms.values()), rel=1e-5), name
        if name == "fse":  # one level: no clip/sentence terms or results
            assert not {"match_low", "cluster_low", "match_flat"} & set(terms)
            assert set(res) == {"p2v", "v2p"}
        else:
            assert {"match_low", "cluster_low"} <= set(terms)
            assert ("match_flat" in terms) == (name != "hard")


def test_every_config_parses_and_opens_with_its_command():
    """Each flagfile starts with a comment giving its command; every flag it sets exists."""
    import glob
    from absl import flags as absl_flags
    import hse_tf.train  # noqa: F401  (defines the flags)
    known = set(absl_flags.FLAGS) | {"flagfile"}
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.flags"))):
        lines = open(path).read().splitlines()
        assert lines[0].startswith("#") and any("python -m hse_tf.train" in l for l in lines[:3])
        assert any(l.startswith("# Expected") for l in lines), path
        for line in lines:
            if line.startswith("--"):
                name = line[2:].split("=")[0]
                assert name in known or (name.startswith("no") and name[2:] in known), (path, name)
                if name == "flagfile":
                    assert os.path.exists(os.path.join(ROOT, line.split("=", 1)[1])), path


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from absl import logging
from hse_tf.training import make_strategy, train
logging.set_verbosity("info")
assert make_strategy("mirrored").num_replicas_in_sync == 2
cfg = json.loads(sys.argv[1])
res = train(cfg, cfg["run"], strategy_name="mirrored", verbose=0, projector_max=0)
print("RESULT", json.dumps(res["p2v"]))
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tiny_demo, tmp_path):
    # A subprocess, because logical devices must be configured before TensorFlow initialises.
    run = str(tmp_path / "mirrored")
    cfg = {**tiny_config(tiny_demo, run), "run": run}
    done = subprocess.run([sys.executable, "-c", MIRRORED, json.dumps(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 replica(s), 8 videos per replica" in done.stderr
    state = json.load(open(os.path.join(run, "ckpt-0002", "state.json")))
    assert state["epoch"] == 2 and state["step"] == 2 * (48 // 16)
    metrics = json.loads(done.stdout.split("RESULT", 1)[1])
    # The two replicas' weights, saved once, retrieve on one device as the run reported.
    from hse_tf import evaluate
    again = evaluate.run(run, incomplete_max_k=0, proposals=(), out=str(tmp_path / "e.json"))
    for k in ("R@1", "R@5", "MR"):
        assert again["retrieval"]["p2v"][k] == pytest.approx(metrics[k]), k


MULTI_WORKER = """
import json, os, sys
from absl import logging
from hse_tf.training import train
logging.set_verbosity("info")
cfg = json.loads(sys.argv[1])
res = train(cfg, cfg["run"], strategy_name="multi_worker", verbose=0, projector_max=0)
print("RESULT", json.dumps(res["p2v"]))
"""


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_via_tf_config(tiny_demo, tmp_path):
    # Two worker processes on this machine, one CPU replica each, talking over localhost.
    run = str(tmp_path / "multi")
    cfg = {**tiny_config(tiny_demo, run), "run": run}
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                      "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen([sys.executable, "-c", MULTI_WORKER, json.dumps(cfg)],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert "2 replica(s), 8 videos per replica" in outs[0][1]
    state = json.load(open(os.path.join(run, "ckpt-0002", "state.json")))
    assert state["epoch"] == 2 and state["step"] == 2 * (48 // 16)
    assert not [n for n in os.listdir(run) if n.startswith(".worker")]  # scratch removed


def _quiet_env():
    """The environment of a user's shell: TF_CPP_MIN_LOG_LEVEL unset (the commands quiet TF)."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def test_commands_fail_with_one_line(tiny_demo, tmp_path):
    def run(*args):
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                              text=True, env=_quiet_env())
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return done.returncode, lines
    # A missing required flag: one line, no help text, exit 2.
    code, lines = run("hse_tf.train", "--dataset=activitynet", f"--run_dir={tmp_path / 'r'}")
    assert code == 2 and lines == ["error: missing flags: --train_annotations, --features, "
                                   "--word_vectors"], lines
    assert not (tmp_path / "r").exists()  # a failed run leaves no folder
    # A bad feature file: one line naming the file; no traceback, no TensorFlow start-up noise.
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"not hdf5")
    code, lines = run("hse_tf.train", "--dataset=activitynet",
                      f"--train_annotations={tiny_demo['train']}", f"--features={bad}",
                      f"--word_vectors={tiny_demo['word_vectors']}", "--hidden=8",
                      f"--run_dir={tmp_path / 'r'}", "--epochs=1")
    errors = [line for line in lines if not line.startswith("I")]  # absl info lines may precede
    assert code == 2 and len(errors) == 1 and errors[0].startswith("error: ") and str(bad) in \
        errors[0], lines
    assert not any("Traceback" in line or "cuInit" in line or "oneDNN" in line for line in lines)
    assert not (tmp_path / "r").exists()
    # --debug shows the traceback.
    code, lines = run("hse_tf.evaluate", f"--checkpoint={tmp_path / 'none'}", "--debug")
    assert code == 2 and any("Traceback" in line for line in lines)
    assert lines[-1].startswith("error: ") and "no checkpoint" in lines[-1]
    # argparse commands go through the same path.
    code, lines = run("hse_tf.index", "search", str(tmp_path / "none"), "a query")
    assert code == 2 and lines == [lines[0]] and lines[0].startswith("error: "), lines


def test_profile_steps_flag():
    from absl import app

    from hse_tf.train import parse_profile_steps
    assert parse_profile_steps("10,15") == (10, 15) and parse_profile_steps("") is None
    for bad in ("10", "a,b", "5,2", "0,3"):
        with pytest.raises(app.UsageError, match="--profile_steps"):
            parse_profile_steps(bad)


def test_cache_features_reads_each_video_once(tiny_demo):
    from hse_tf.training import runs
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import CachedStore
    cfg = tiny_config(tiny_demo, "", cache_features=True)
    vocab = runs.build_vocab(cfg, IssueLog())
    train_split = runs.make_split(cfg, "train", vocab)
    val_split = runs.make_split(cfg, "val", vocab)
    store = train_split.store
    assert isinstance(store, CachedStore) and val_split.store is store  # one cache per file
    reads = []
    real_get = store.store.get
    store.store.get = lambda vid: reads.append(vid) or real_get(vid)
    first = [train_split.features(i) for i in range(len(train_split))]
    again = [train_split.features(i) for i in range(len(train_split))]
    assert len(reads) == len(train_split)  # the second pass came from memory
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert store.cached_bytes == sum(a.nbytes for a in first)
    store.store.get = real_get


def test_mixed_precision_bfloat16_trains_on_cpu(tiny_demo, tmp_path):
    import keras
    import tensorflow as tf

    from hse_tf.training.runs import model_from_config
    from hse_tf.training import train
    from tests.conftest import random_batch
    run = str(tmp_path / "run")
    results = train(tiny_config(tiny_demo, run, epochs=1, mixed_precision="bfloat16"), run,
                    verbose=0, projector_max=0)
    assert np.isfinite(results["p2v"]["MR"])
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    model = model_from_config({"model": "hse", "hidden": 8}, 6, 20, 8, "bfloat16")
    assert model.video_tower.compute_dtype == "bfloat16"
    assert model.loss_layer.compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    terms = model.loss_terms({k: tf.constant(v) for k, v in random_batch(
        np.random.default_rng(0)).items()})
    assert all(t.dtype == tf.float32 and np.isfinite(float(t)) for t in terms.values())
    # Evaluation and export rebuild the run in float32.
    assert json.load(open(os.path.join(run, "run_config.json")))["mixed_precision"] == "bfloat16"
    from hse_tf.training.runs import load_run
    assert load_run(run)[2].video_tower.compute_dtype == "float32"


def test_global_clipnorm_is_its_own_flag():
    from hse_tf.training.optimizer import make_optimizer
    cfg = tiny_config({"train": "", "val_1": "", "features": "", "word_vectors": ""}, "")
    opt = make_optimizer({**cfg, "global_clipnorm": 1.5}, 3)
    assert opt.global_clipnorm == 1.5 and opt.clipnorm is None
    opt = make_optimizer({**cfg, "clipnorm": 2.0}, 3)
    assert opt.clipnorm == 2.0 and opt.global_clipnorm is None
    with pytest.raises(ValueError, match="not both"):
        make_optimizer({**cfg, "clipnorm": 1.0, "global_clipnorm": 1.0}, 3)


def test_proposal_quality_counts_only_embedded_videos():
    from types import SimpleNamespace

    from hse_tf.data.annotations import VideoAnnotation
    from hse_tf.evaluation.evaluators import _proposal_quality
    # K = 1: the proposal is the whole video [0, 10] s.
    # Video a: ground truth [0, 10] -> IoU 1: precision 1, recall 1.
    # Video b: ground truth [0, 2] -> IoU 0.2: precision 0, recall 0.
    anns = [VideoAnnotation("a", 10.0, [(0.0, 10.0)], ["x"], "seconds"),
            VideoAnnotation("b", 10.0, [(0.0, 2.0)], ["y"], "seconds")]
    ds = SimpleNamespace(annotations=anns)
    assert _proposal_quality(ds, 1, [0, 1]) == (0.5, 0.5)
    assert _proposal_quality(ds, 1, [0]) == (1.0, 1.0)  # b was skipped: it does not count


def test_every_recorded_option_is_a_flag_and_the_owners_lists_are_recorded():
    from absl import flags

    import hse_tf.train as command
    from hse_tf.layers.encoders import ATTENTION_OPTIONS
    from hse_tf.losses.hse_loss import OPTIONS
    assert [n for n in command.CONFIG_FLAGS if n not in flags.FLAGS] == []
    assert set(OPTIONS) | set(ATTENTION_OPTIONS) <= set(command.CONFIG_FLAGS)
    assert len(set(command.CONFIG_FLAGS)) == len(command.CONFIG_FLAGS)
