"""Shared test harness: paths to the real data, a tiny generated dataset, tiny model configs."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("HSE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))


def shared_path(*parts):
    """Path into ../shared/data, or skip the test when it is absent (as on a user's machine)."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real annotation data not found at {path} (set HSE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A small demo dataset in the ActivityNet layouts (seconds to write)."""
    from hse_tf.data import demo
    out = str(tmp_path_factory.mktemp("demo"))
    return demo.write(out, n_train=48, n_val=16, dim=8, seed=1)


@pytest.fixture(scope="session")
def exported(tiny_demo, tmp_path_factory):
    """A tiny (untrained, seeded) HSE model, its vocabulary, split and exported SavedModels."""
    import keras
    import tensorflow as tf
    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.features import open_features
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import model_from_config
    from hse_tf.export import export_encoders
    keras.utils.set_random_seed(0)
    anns = read_activitynet_captions(tiny_demo["val_1"])
    vocab = Vocabulary.build([s for a in read_activitynet_captions(tiny_demo["train"])
                              for s in a.sentences])
    store = open_features("c3d_hdf5", tiny_demo["features"])
    split = VideoDataset(anns, store, vocab)
    model = model_from_config({"model": "hse", "hidden": 8}, 8, len(vocab), 6)
    out = str(tmp_path_factory.mktemp("models"))
    paths = export_encoders(model, vocab, out, metadata={"note": "test"}, max_sentences=30)
    return {"model": model, "vocab": vocab, "split": split, "anns": anns, "store": store,
            "paths": paths, "out": out,
            "video": tf.saved_model.load(paths["hse_video"]),
            "text": tf.saved_model.load(paths["hse_text"])}


def tiny_config(demo_paths, run_dir, **overrides):
    """A run config (flag values) for a tiny, fast model on the tiny demo dataset."""
    from hse_tf.training.run_config import run_defaults
    cfg = {
        **run_defaults(), "train_annotations": demo_paths["train"],
        "val_annotations": demo_paths["val_1"], "train_subset": None, "val_subset": None,
        "features": demo_paths["features"], "word_vectors": demo_paths["word_vectors"],
        "demo_dir": "", "hidden": 8, "epochs": 2, "batch_size": 16, "lr_decay_every": 1,
    }
    cfg.update(overrides)
    return cfg


def random_batch(rng, feature_dim=6, vocab_size=20, clips=(2, 3, 1), max_len=5):
    """A random valid batch dict with the given clips (= sentences) per video."""
    m, b = sum(clips), len(clips)
    frame_lengths = rng.integers(1, max_len + 1, size=m).astype(np.int32)
    flat_lengths = rng.integers(1, max_len + 1, size=b).astype(np.int32)
    word_lengths = rng.integers(1, max_len + 1, size=m).astype(np.int32)
    return {
        "frames": rng.normal(size=(frame_lengths.sum(), feature_dim)).astype(np.float32),
        "frame_lengths": frame_lengths,
        "clip_counts": np.asarray(clips, np.int32),
        "flat_frames": rng.normal(size=(flat_lengths.sum(), feature_dim)).astype(np.float32),
        "flat_lengths": flat_lengths,
        "words": rng.integers(1, vocab_size, size=word_lengths.sum()).astype(np.int32),
        "word_lengths": word_lengths,
        "sentence_counts": np.asarray(clips, np.int32),
        "index": np.arange(b, dtype=np.int32),
    }


@pytest.fixture(scope="session")
def trained_run(tiny_demo, tmp_path_factory):
    """A tiny HSE run trained for one epoch on the tiny demo (for the downstream heads)."""
    from hse_tf.training import train
    run = str(tmp_path_factory.mktemp("heads") / "run")
    train(tiny_config(tiny_demo, run, epochs=1), run, verbose=0, projector_max=0)
    return run


def write_captions(root, sentences):
    """{video id: [sentences]} -> (captions.json with two 1.5 s clips per 3 s video, a GloVe
    file of 16-d random vectors for their words) under `root`."""
    import json

    from hse_tf.data.word_vectors import save_glove_txt
    ann = {vid: {"duration": 3.0, "timestamps": [[0.0, 1.5], [1.5, 3.0]], "sentences": sents}
           for vid, sents in sentences.items()}
    captions, glove = os.path.join(str(root), "captions.json"), os.path.join(str(root),
                                                                            "glove.txt")
    with open(captions, "w") as f:
        json.dump(ann, f)
    words = sorted({w for a in ann.values() for s in a["sentences"]
                    for w in s.rstrip(".").split()})
    save_glove_txt(glove, words,
                   np.random.default_rng(0).normal(size=(len(words), 16)).astype(np.float32))
    return captions, glove


# The search page's gallery: six videos a caption can tell apart (colour, shape, direction),
# WebM/VP9 so that a browser plays them, and one whose file name is hostile HTML.
GALLERY_VIDEOS = [("red", "square", "right"), ("blue", "circle", "left"),
                  ("green", "square", "down"), ("yellow", "circle", "up"),
                  ("white", "square", "left"), ("purple", "circle", "right")]
HOSTILE_ID = '"><img src=x onerror=alert(1)>'
CAPTIONS = {f"{c}_{s}": f"a {c} {s} moves {d}." for c, s, d in GALLERY_VIDEOS}
CAPTIONS[HOSTILE_ID] = "an orange square moves up."


@pytest.fixture(scope="session")
def video_gallery(tmp_path_factory):
    """The one video -> index pipeline of the suite, as a user runs it: videos -> features
    (hse_tf.features) -> a tiny trained HSE -> `python -m hse_tf.export` (with hse_features)
    -> `python -m hse_tf.index build --videos` (thumbnails, media) and `build-text`. Used by
    tests/test_video_features.py (the chain itself) and tests/test_app*.py (the page). Built
    once per run: with pytest-xdist the first worker to need it builds it, the others wait and
    read it (no test writes into it; tests that change an index change a copy)."""
    pytest.importorskip("av")
    import fcntl

    from hse_tf.index.encoders import Encoders
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one build for every worker (pytest-xdist)
        root = tmp_path_factory.getbasetemp().parent / "gallery"
        root.mkdir(exist_ok=True)
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait for the first
            if not (root / "built").exists():
                _build_gallery(root)
                (root / "built").touch()
    else:
        root = tmp_path_factory.mktemp("gallery")
        _build_gallery(root)
    return {"index": str(root / "index"), "text": str(root / "text"),
            "models": str(root / "models"), "videos": str(root / "videos"),
            "features": str(root / "feats.hdf5"), "encoders": Encoders(str(root / "models"))}


def _build_gallery(root):
    import subprocess
    import sys

    from hse_tf.features import synthetic as S
    from hse_tf.features.extractor import extract
    from hse_tf.training import train
    videos = root / "videos"
    videos.mkdir()
    looks = GALLERY_VIDEOS + [((255, 140, 0), "square", "up")]
    for (colour, shape, direction), vid in zip(looks, CAPTIONS):
        S.write_video(str(videos / f"{vid}.webm"), seconds=3.0, fps=10, colour=colour,
                      shape=shape, direction=direction, background="tinted",
                      codec="libvpx-vp9")
    feats = str(root / "feats.hdf5")
    extract(str(videos), feats, "hdf5", "inception_v3", fps=2.0, weights="none",
            progress=False)
    captions, glove = write_captions(root, {
        vid: [cap, cap.replace("a ", "the ", 1).replace("moves", "keeps going")]
        for vid, cap in CAPTIONS.items()})
    run = str(root / "run")
    train(tiny_config({"train": captions, "val_1": captions, "features": feats,
                       "word_vectors": glove}, run,
                      feature_layout="hdf5", hidden=32, epochs=40, batch_size=7, lr=3e-3,
                      lr_decay_every=100, tau_high=0.0, tau_low=0.0), run, verbose=0,
          projector_max=0)
    models, index, text = str(root / "models"), str(root / "index"), str(root / "text")
    for args in (["hse_tf.export", "--checkpoint", run, "--out", models],
                 ["hse_tf.index", "build", "--model", models, "--videos", str(videos), "--out",
                  index, "--uniform_clips", "2", "--quiet"],
                 ["hse_tf.index", "build-text", "--model", models, "--annotations", captions,
                  "--out", text, "--quiet"]):
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                              text=True)
        assert done.returncode == 0, (args, done.stderr[-2000:])


def peak_rss_mb(pid):
    """A process's peak resident memory (VmHWM), MB (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def checkpoint_weights(run_dir):
    """Every weight array of a run's latest checkpoint, in file order."""
    import h5py

    from hse_tf.training import checkpoints
    out = []
    with h5py.File(os.path.join(checkpoints.latest(run_dir), "model.weights.h5")) as f:
        f.visititems(lambda name, obj: out.append(obj[()]) if hasattr(obj, "shape") else None)
    return out
