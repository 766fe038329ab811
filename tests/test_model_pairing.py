"""Models that belong together stay together: exports are units, an index is searched with the
models that built it, resumed builds match their inputs, and corrupt index files are caught."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hse_tf import cli
from hse_tf.data.outputs import OutputError
from tests.conftest import ROOT


def _index_cli(*args):
    from hse_tf.index.__main__ import main
    return cli.run(main, [str(a) for a in args])


def _model(exported, seed):
    import keras
    from hse_tf.training.runs import model_from_config
    keras.utils.set_random_seed(seed)
    return model_from_config({"model": "hse", "hidden": 8}, 8, len(exported["vocab"]), 6)


def _meta(path):
    with open(os.path.join(path, "assets.extra", "hse_export.json")) as f:
        return json.load(f)


def test_export_is_one_unit_and_versions_are_guarded(exported, tmp_path):
    from hse_tf.export import export_encoders
    out = str(tmp_path / "models")
    os.makedirs(os.path.join(out, "hse_text", ".tmp-7-left-by-a-kill"))
    os.makedirs(os.path.join(out, "hse_text", "my_notes"))
    paths = export_encoders(exported["model"], exported["vocab"], out)
    assert paths == {"hse_video": os.path.join(out, "hse_video", "1"),
                     "hse_text": os.path.join(out, "hse_text", "1")}
    video, text = _meta(paths["hse_video"]), _meta(paths["hse_text"])
    assert video["export_id"] == text["export_id"] and video["members"] == ["hse_video",
                                                                             "hse_text"]
    assert video["version"] == text["version"] == 1 and video["weights_fingerprint"]
    # Leftover temporary folders of an earlier export are removed; nothing else is.
    assert set(os.listdir(os.path.join(out, "hse_text"))) == {"1", "my_notes"}
    with pytest.raises(OutputError, match="version 1 of hse_video exists; pass --overwrite"):
        export_encoders(exported["model"], exported["vocab"], out, version=1)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="--version must be a positive integer"):
            export_encoders(exported["model"], exported["vocab"], out, version=bad)
    again = export_encoders(exported["model"], exported["vocab"], out, version=1, overwrite=True)
    assert _meta(again["hse_video"])["export_id"] != video["export_id"]
    # The next export gets one number for all its models, above every member's highest.
    os.rename(os.path.join(out, "hse_text", "1"), os.path.join(out, "hse_text", "3"))
    assert set(export_encoders(exported["model"], exported["vocab"], out).values()) == {
        os.path.join(out, "hse_video", "4"), os.path.join(out, "hse_text", "4")}


KILL_AFTER_FIRST_MODEL = """
import os, re, runpy, signal, sys
real = os.replace
def replace(src, dst):
    real(src, dst)
    if re.search(r"hse_\\w+/\\d+$", str(dst)):   # the first model renamed into place
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.argv = ["hse_tf.export"] + sys.argv[1:]
runpy.run_module("hse_tf.export", run_name="__main__")
"""


def test_kill_during_export_never_pairs_two_exports(trained_run, tmp_path):
    from hse_tf.training.runs import load_run
    from hse_tf.export import export_encoders
    from hse_tf.index.encoders import Encoders
    from hse_tf.serving.model_registry import ModelRegistry
    out = str(tmp_path / "models")
    _, vocab, model, _ = load_run(trained_run)
    export_encoders(model, vocab, out)
    done = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_MODEL, "--checkpoint",
                           trained_run, "--out", out], cwd=ROOT, capture_output=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    assert os.path.isdir(os.path.join(out, "hse_video", "2"))  # killed between the two renames
    assert not os.path.exists(os.path.join(out, "hse_text", "2"))
    # Readers see only complete exports: the server and index build pair version 1 with 1.
    registry = ModelRegistry.from_dir(out)
    assert {n: sorted(v) for n, v in registry.models.items()} == {"hse_text": [1],
                                                                  "hse_video": [1]}
    encoders = Encoders(out)
    assert encoders.video[1]["path"].endswith(os.path.join("hse_video", "1"))
    assert encoders.text[1]["path"].endswith(os.path.join("hse_text", "1"))
    # The next export takes back the unfinished one and writes a pair as version 2.
    paths = export_encoders(model, vocab, out)
    assert paths["hse_video"].endswith("2") and paths["hse_text"].endswith("2")
    assert _meta(paths["hse_video"])["export_id"] == _meta(paths["hse_text"])["export_id"]
    assert not glob.glob(os.path.join(out, ".export-*")) and not glob.glob(
        os.path.join(out, "*", ".tmp-*"))


def test_index_is_searched_with_the_models_that_built_it(exported, tiny_demo, tmp_path, capsys):
    from hse_tf.export import export_encoders
    out, index = str(tmp_path / "models"), tmp_path / "idx"
    export_encoders(exported["model"], exported["vocab"], out)
    assert _index_cli("build", "--model", out, "--features", tiny_demo["features"],
                      "--annotations", tiny_demo["val_1"], "--out", index, "--quiet") == 0
    recorded = json.load(open(index / "index.json"))["models"]
    assert recorded["hse_video"]["version"] == recorded["hse_text"]["version"] == 1
    query = " ".join(exported["split"].annotations[2].sentences)
    capsys.readouterr()
    assert _index_cli("search", index, query, "-k", 5, "--json") == 0
    before = json.loads(capsys.readouterr().out)["results"]
    # Another checkpoint exported into the same folder (version 2, other weights): search
    # still uses version 1's text model, so the results do not change.
    export_encoders(_model(exported, seed=5), exported["vocab"], out)
    assert _index_cli("search", index, query, "-k", 5, "--json") == 0
    assert json.loads(capsys.readouterr().out)["results"] == before
    # A text model of version 1 from another export is refused, naming both.
    text_meta = os.path.join(out, "hse_text", "1", "assets.extra", "hse_export.json")
    meta = json.load(open(text_meta))
    json.dump({**meta, "export_id": "someone-else"}, open(text_meta, "w"))
    assert _index_cli("search", index, query) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hse_text/1: is from export someone-else" in err
    assert f"built with hse_video/1 (export {recorded['hse_video']['export_id']})" in err
    os.rename(os.path.join(out, "hse_text", "1"), str(tmp_path / "gone"))
    assert _index_cli("search", index, query) == 2
    assert "hse_text/1: is missing" in capsys.readouterr().err


def test_resume_refuses_changed_inputs(exported, tiny_demo, tmp_path, capsys):
    from hse_tf.index import GalleryIndex
    anns = json.load(open(tiny_demo["val_1"]))
    changed = {vid: {**a, "timestamps": [[t[0] / 2, t[1] / 2] for t in a["timestamps"]]}
               for vid, a in anns.items()}
    other = tmp_path / "other.json"
    other.write_text(json.dumps(changed))
    base = ["build", "--model", exported["out"], "--features", tiny_demo["features"],
            "--quiet", "--shard_size", 5]
    part, clean = tmp_path / "part", tmp_path / "clean"
    assert _index_cli(*base, "--annotations", tiny_demo["val_1"], "--out", part,
                      "--max_shards", 1) == 0
    # Same ids, other timestamps: refused, naming what changed.
    assert _index_cli(*base, "--annotations", other, "--out", part) == 2
    assert "(annotations changed)" in capsys.readouterr().err
    # Another feature file with the same videos: refused too (by content, not by name).
    feats = tmp_path / "feats.hdf5"
    feats.write_bytes(open(tiny_demo["features"], "rb").read())
    assert _index_cli("build", "--model", exported["out"], "--features", feats, "--quiet",
                      "--shard_size", 5, "--annotations", tiny_demo["val_1"], "--out", part) == 2
    assert "features changed" in capsys.readouterr().err
    # --overwrite starts afresh: the result equals a clean build with the new annotations.
    assert _index_cli(*base, "--annotations", other, "--out", part, "--overwrite") == 0
    assert _index_cli(*base, "--annotations", other, "--out", clean) == 0
    a, b = GalleryIndex.load(str(part / "clips")), GalleryIndex.load(str(clean / "clips"))
    assert a.ids == b.ids
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)


def test_row_order_does_not_depend_on_batch_size(exported, tiny_demo, tmp_path):
    from hse_tf.index import GalleryIndex
    ids = []
    for batch in (3, 32):
        out = tmp_path / f"b{batch}"
        assert _index_cli("build", "--model", exported["out"], "--features",
                          tiny_demo["features"], "--annotations", tiny_demo["val_1"], "--out",
                          out, "--quiet", "--shard_size", 7, "--batch_size", batch) == 0
        ids.append(GalleryIndex.load(str(out)).ids)
    assert ids[0] == ids[1] == exported["split"].video_ids


def _flip_byte(path, offset_from_end=5):
    with open(path, "r+b") as f:
        f.seek(-offset_from_end, os.SEEK_END)
        b = f.read(1)
        f.seek(-offset_from_end, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x01]))


def test_a_corrupted_byte_is_caught(tmp_path, capsys):
    from hse_tf.index import GalleryIndex, IndexFileError
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16)).astype(np.float32)
    exact = str(tmp_path / "exact")
    GalleryIndex([f"v{i}" for i in range(200)], x, kind="exact").save(exact)
    assert _index_cli("verify", exact) == 0
    assert "ok (200 rows x 16, exact" in capsys.readouterr().out
    _flip_byte(os.path.join(exact, "embeddings.npy"))
    with pytest.raises(IndexFileError, match="embeddings.npy: checksum mismatch"):
        GalleryIndex.load(exact)
    assert _index_cli("verify", exact) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    # A memory-mapped (ivfpq) index: load does not read the vectors; verify does.
    centres = rng.normal(size=(50, 16)).astype(np.float32)
    y = centres[rng.integers(0, 50, 10_000)] + 0.1 * rng.normal(size=(10_000, 16)).astype(
        np.float32)
    pq = str(tmp_path / "pq")
    GalleryIndex([str(i) for i in range(10_000)], y, kind="ivfpq",
                 params={"nlist": 16, "pq_m": 4}).save(pq)
    _flip_byte(os.path.join(pq, "embeddings.npy"))
    assert isinstance(GalleryIndex.load(pq).embeddings, np.memmap)
    assert _index_cli("verify", pq) == 2
    assert "embeddings.npy: checksum mismatch" in capsys.readouterr().err
    # NaN rows in an index written before checksums: load refuses them all the same.
    old = str(tmp_path / "old")
    GalleryIndex(["a", "b"], np.eye(2, dtype=np.float32), kind="exact").save(old)
    meta = json.load(open(os.path.join(old, "index.json")))
    del meta["checksums"], meta["format"]
    json.dump(meta, open(os.path.join(old, "index.json"), "w"))
    np.save(os.path.join(old, "embeddings.npy"), np.array([[np.nan, 0], [0, 1]], np.float32))
    with pytest.raises(IndexFileError, match="NaN or Inf"):
        GalleryIndex.load(old)


def test_a_corrupted_shard_is_caught(exported, tiny_demo, tmp_path, capsys):
    part = tmp_path / "part"
    base = ["build", "--model", exported["out"], "--features", tiny_demo["features"],
            "--annotations", tiny_demo["val_1"], "--quiet", "--shard_size", 5, "--out", part]
    assert _index_cli(*base, "--max_shards", 1) == 0
    _flip_byte(str(part) + ".partial/shards/00000.npz", 200)
    assert _index_cli(*base) == 2
    assert "00000.npz: checksum mismatch (corrupt shard)" in capsys.readouterr().err
