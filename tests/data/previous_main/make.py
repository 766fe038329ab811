"""Run with the previous main's hse_tf (cwd = ../base): a tiny run folder and a tiny index in
today's format, plus the embeddings they give, for tests/test_old_outputs.py."""
import json, os, shutil, sys
import numpy as np
sys.path.insert(0, os.getcwd())
out = sys.argv[1]
from hse_tf.data import demo
data = demo.write(os.path.join(out, "data"), n_train=24, n_val=8, dim=6, seed=3)
from hse_tf.train import train
cfg = {
    "dataset": "activitynet", "train_annotations": data["train"], "val_annotations": data["val_1"],
    "train_subset": None, "val_subset": None, "features": data["features"], "feature_layout": "c3d_hdf5",
    "feature_dim": 0, "word_vectors": data["word_vectors"], "min_word_count": 1, "max_frames": 80,
    "on_bad_input": "error", "sort_by_time": True, "demo_dir": "", "action_labels": None,
    "model": "hse", "hidden": 8, "flat_context": True, "margin_high": 0.2, "margin_low": 0.2,
    "gamma": 0.2, "hardest_negative": False, "w_match_high": 1.0, "w_match_low": 1.0,
    "w_cluster_high": 1.0, "w_cluster_low": 1.0, "w_match_flat": 1.0, "tau_high": 5e-4,
    "tau_low": 1e-4, "weak_low": False, "epochs": 1, "batch_size": 8, "lr": 1e-3,
    "lr_decay_every": 1, "lr_decay_factor": 0.1, "clipnorm": 0.0, "seed": 0, "eval_every": 1}
run = os.path.join(out, "run")
train(cfg, run, verbose=0, projector_max=0)
shutil.rmtree(os.path.join(run, "logs"))
from hse_tf.experiment import load_run
from hse_tf.models import dummy_batch
_, vocab, model, _ = load_run(run)
batch = dummy_batch(6, clips=(2, 1, 3), frames=4, words=5)
rng = np.random.default_rng(0)
batch["frames"] = rng.normal(size=batch["frames"].shape).astype(np.float32)
batch["flat_frames"] = rng.normal(size=batch["flat_frames"].shape).astype(np.float32)
batch["words"] = rng.integers(2, len(vocab), size=batch["words"].shape).astype(np.int32)
emb = {k: v.numpy() for k, v in model(batch).items()}
np.savez(os.path.join(out, "expected.npz"), **{"in_" + k: v for k, v in batch.items()},
         **{"out_" + k: v for k, v in emb.items()})
# a tiny index, exact kind, from vectors
from hse_tf.index.gallery_index import GalleryIndex
vecs = rng.normal(size=(10, 8)).astype(np.float32)
vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
idx = GalleryIndex([f"v{i}" for i in range(10)], vecs, kind="exact")
idx.save(os.path.join(out, "index"))
np.save(os.path.join(out, "index_vectors.npy"), vecs)
print(os.listdir(out), os.listdir(run), os.listdir(os.path.join(out, "index")))
