"""Output folders are never lost: a command replaces only what it wrote itself, and bad numbers
get one line naming the flag (exit code 2)."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from hse_tf import cli
from hse_tf.data.outputs import OutputError, claim
from hse_tf.index.ownership import VIDEO_INDEX as INDEX
from tests.conftest import ROOT, tiny_config


def _index_cli(*args):
    from hse_tf.index.__main__ import main
    return cli.run(main, [str(a) for a in args])


def _sentinel(folder):
    os.makedirs(os.path.join(folder, "sub"), exist_ok=True)
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("x")


def _intact(folder):
    return (open(os.path.join(folder, "notes.txt")).read() == "x"
            and os.path.isdir(os.path.join(folder, "sub")))


def test_claim_rules(tmp_path):
    claim(tmp_path / "new", INDEX)           # nothing there
    os.makedirs(tmp_path / "empty")
    claim(tmp_path / "empty", INDEX)         # an empty folder
    _sentinel(tmp_path / "user")
    with pytest.raises(OutputError, match="is not a video index folder"):
        claim(tmp_path / "user", INDEX, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        claim(tmp_path / "file", INDEX, overwrite=True)


def test_index_build_never_deletes_a_user_folder(exported, tiny_demo, tmp_path, capsys):
    base = ["build", "--model", exported["out"], "--features", tiny_demo["features"],
            "--annotations", tiny_demo["val_1"], "--quiet"]
    user = tmp_path / "v"
    _sentinel(user)
    assert _index_cli(*base, "--out", user) == 2
    assert "is not a video index folder" in capsys.readouterr().err
    assert _intact(user)
    assert _index_cli(*base, "--out", user, "--overwrite") == 2  # --overwrite does not help
    assert _intact(user)
    # An index is replaced only with --overwrite.
    out = tmp_path / "idx"
    assert _index_cli(*base, "--out", out) == 0
    assert _index_cli(*base, "--out", out) == 2
    assert "already holds a video index; pass --overwrite" in capsys.readouterr().err
    assert _index_cli(*base, "--out", out, "--overwrite") == 0
    # ... and only when it holds nothing but what an index build writes.
    (out / "my_notes.txt").write_text("keep")
    assert _index_cli(*base, "--out", out, "--overwrite") == 2
    assert "'my_notes.txt', which no video index writes" in capsys.readouterr().err
    assert (out / "my_notes.txt").read_text() == "keep"
    text = tmp_path / "t"
    _sentinel(text)
    assert _index_cli("build-text", "--model", exported["out"], "--annotations",
                      tiny_demo["val_1"], "--out", text, "--quiet") == 2
    assert _intact(text)


def test_heads_never_delete_a_user_folder(trained_run, tiny_demo, tmp_path):
    from hse_tf.caption.jobs import train as caption_train
    from hse_tf.heads.jobs import train_classifier as classify_train
    user = str(tmp_path / "v")
    _sentinel(user)
    with pytest.raises(OutputError, match="is not a classifier folder"):
        classify_train(trained_run, tiny_demo["labels_train"], None, tiny_demo["features"],
                       user, epochs=1, log=lambda *a: None)
    with pytest.raises(OutputError, match="is not a captioner folder"):
        caption_train(trained_run, tiny_demo["train"], tiny_demo["features"], user, epochs=1)
    assert _intact(user)
    with pytest.raises(ValueError, match="--epochs must be >= 1"):
        classify_train(trained_run, tiny_demo["labels_train"], None, tiny_demo["features"],
                       str(tmp_path / "c"), epochs=0)
    clf = str(tmp_path / "clf")
    classify_train(trained_run, tiny_demo["labels_train"], None, tiny_demo["features"], clf,
                   hidden=8, epochs=1, log=lambda *a: None)
    with pytest.raises(OutputError, match="already holds a classifier"):
        classify_train(trained_run, tiny_demo["labels_train"], None, tiny_demo["features"], clf,
                       hidden=8, epochs=1, log=lambda *a: None)
    classify_train(trained_run, tiny_demo["labels_train"], None, tiny_demo["features"], clf,
                   hidden=8, epochs=1, log=lambda *a: None, overwrite=True)


def test_training_never_overwrites_a_finished_run(trained_run, tiny_demo, tmp_path):
    from hse_tf.training import checkpoints
    from hse_tf.training.runs import load_run
    from hse_tf.training import train
    run = str(tmp_path / "rc")
    shutil.copytree(trained_run, run)
    _sentinel(run)
    before = {n: open(os.path.join(run, n), "rb").read()
              for n in ("run_config.json", "vocab.txt", "checkpoint.json")}
    with pytest.raises(OutputError, match="already holds a training run; pass --resume"):
        train(tiny_config(tiny_demo, run, epochs=1, hidden=4), run, verbose=0, projector_max=0)
    for name, data in before.items():
        assert open(os.path.join(run, name), "rb").read() == data
    assert load_run(run)[2].hidden == 8  # the finished model still loads
    with pytest.raises(ValueError, match="--epochs must be an integer >= 1"):
        train(tiny_config(tiny_demo, str(tmp_path / "z"), epochs=0), str(tmp_path / "z"),
              verbose=0)
    assert not os.path.exists(tmp_path / "z")
    # --overwrite replaces the run (and nothing else in the folder).
    train(tiny_config(tiny_demo, run, epochs=1, hidden=4), run, verbose=0, projector_max=0,
          overwrite=True)
    assert load_run(run)[2].hidden == 4 and _intact(run)
    assert os.path.basename(checkpoints.latest(run)) == "ckpt-0001"


def test_extract_refuses_a_foreign_feature_file(tmp_path):
    from hse_tf.data.errors import DataError
    from hse_tf.features.extractor import extract
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"not decoded: the refusal comes first")
    other = str(tmp_path / "other.hdf5")
    with h5py.File(other, "w") as f:
        f.attrs["owner"] = "someone else"
        f.create_dataset("v1", data=np.ones((3, 4), np.float32))
    with pytest.raises(DataError, match="not a feature file written by python -m hse_tf"):
        extract(str(videos), other, "hdf5", "efficientnetv2_b0", weights="none")
    with h5py.File(other, "r") as f:
        assert f.attrs["owner"] == "someone else" and list(f) == ["v1"]
    folder = tmp_path / "npz"
    _sentinel(folder)
    with pytest.raises(DataError, match="not an extraction"):
        extract(str(videos), str(folder), "inception_npz", "efficientnetv2_b0", weights="none")
    assert _intact(folder)


def test_ids_never_become_paths_outside_the_feature_folder(tmp_path):
    from hse_tf.data.errors import DataError
    from hse_tf.data.features import open_features, write_features
    write_features("inception_npz", str(tmp_path / "feats"), {"v1": np.ones((2, 3))})
    write_features("inception_npz", str(tmp_path), {"outside": np.ones((2, 3))})
    store = open_features("inception_npz", str(tmp_path / "feats"))
    assert store.get("v1").shape == (2, 3)
    for vid in ("../outside", "..", "a/../../outside", "/etc/passwd"):
        with pytest.raises(DataError, match="video id is not a plain file name") as e:
            store.get(vid)
        assert e.value.video == vid and e.value.field == "video_id"
        assert vid not in store


@pytest.mark.parametrize("args, flag", [
    (["search", "IDX", "a man", "-k", "0"], "-k"),
    (["search", "IDX", "a man", "-k", "-1"], "-k"),
    (["build", "--model", "m", "--features", "f", "--out", "o", "--shard_size", "0"],
     "--shard_size"),
    (["build", "--model", "m", "--features", "f", "--out", "o", "--batch_size", "0"],
     "--batch_size"),
    (["build", "--model", "m", "--features", "f", "--out", "o", "--uniform_clips", "0"],
     "--uniform_clips"),
    (["build", "--model", "m", "--features", "f", "--out", "o", "--uniform_clips", "-3"],
     "--uniform_clips"),
    (["build", "--model", "m", "--features", "f", "--out", "o", "--format", "xyz"],
     "--format"),
])
def test_bad_numbers_name_the_flag_index(args, flag, capsys):
    with pytest.raises(SystemExit) as e:
        _index_cli(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument " + flag in err


def test_bad_numbers_name_the_flag_features(capsys):
    from hse_tf.features.__main__ import main
    for args, flag in ((["--fps", "nan"], "--fps"), (["--fps", "inf"], "--fps"),
                       (["--fps", "0"], "--fps"), (["--batch_size", "0"], "--batch_size")):
        with pytest.raises(SystemExit) as e:
            cli.run(main, ["extract", "--videos", "v", "--out", "o", *args])
        assert e.value.code == 2 and "error: argument " + flag in capsys.readouterr().err


def test_search_k_must_be_positive_on_every_kind():
    from hse_tf.index import GalleryIndex
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    for kind, params in (("exact", None), ("ivf", {"nlist": 2}), ("hnsw", None)):
        index = GalleryIndex([str(i) for i in range(100)], x, kind=kind, params=params)
        for k in (0, -1):
            with pytest.raises(ValueError, match="k must be >= 1"):
                index.search(x[:1], k)


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "PYTHONPATH": ROOT}


@pytest.mark.parametrize("module, args, flag", [
    ("hse_tf.train", ["--dataset=demo", "--epochs=0"], "epochs"),
    ("hse_tf.classify", ["train", "--epochs=-2"], "epochs"),
    ("hse_tf.zeroshot", ["--checkpoint=r", "--labels=l", "--features=f", "--batch_size=0"],
     "batch_size"),
    ("hse_tf.export", ["--checkpoint=r", "--version=0"], "version"),
    ("hse_tf.serving.server", ["--models_dir=m", "--port=-1"], "port"),
])
def test_absl_commands_refuse_bad_numbers_in_one_line(module, args, flag):
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=ROOT, env=_env(), timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0], done.stderr


@pytest.mark.parametrize("module, args, says", [
    ("hse_tf.export", ["--checkpoint=/nonexistent/run"], "no checkpoint in /nonexistent/run"),
    ("hse_tf.serving.server", ["--models_dir=/nonexistent/models"], "/nonexistent/models"),
    ("hse_tf.serving.client", ["video", "--features=/nonexistent.hdf5", "--video_id=v"],
     "/nonexistent.hdf5"),
])
def test_commands_print_one_line_without_tensorflow_start_up(module, args, says):
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=ROOT, env=_env(), timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("error:") and says in done.stderr


def test_corrupt_run_files_name_the_file(trained_run, tmp_path):
    from hse_tf.training.runs import load_run
    run = str(tmp_path / "run")
    shutil.copytree(trained_run, run)
    with open(os.path.join(run, "checkpoint.json"), "w") as f:
        f.write("{garbage")
    with pytest.raises(ValueError, match="checkpoint.json: corrupt checkpoint pointer"):
        load_run(run)
    shutil.rmtree(run)
    shutil.copytree(trained_run, run)
    weights = os.path.join(run, "ckpt-0001", "model.weights.h5")
    with open(weights, "r+b") as f:
        f.write(b"\0" * 64)
    with pytest.raises(ValueError, match="model.weights.h5: cannot load the model weights"):
        load_run(run)
    with open(os.path.join(run, "run_config.json"), "w") as f:
        json.dump({"model": "hse"}, f)
    with pytest.raises(ValueError, match="run_config.json: corrupt run config"):
        load_run(run)


def test_clip_times_errors_name_the_flag():
    assert cli.parse_clip_times("0:1.5, 1.5:3") == [[0.0, 1.5], [1.5, 3.0]]
    for bad in ("a:b", "1", "0:1:2", "3:1", "nan:1", "-1:2"):
        with pytest.raises(ValueError, match="--clip_times: "):
            cli.parse_clip_times(bad)
