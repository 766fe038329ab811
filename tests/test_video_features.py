"""Video files -> features: timestamp sampling, bad files, backbones, resumable extraction, the
hse_features export, and the whole chain to a search (synthetic videos written with PyAV; random
backbone weights, nothing is downloaded)."""

import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from tests.conftest import ROOT

pytest.importorskip("av")

from hse_tf.data.errors import DataError  # noqa: E402
from hse_tf.features import synthetic as S  # noqa: E402
from hse_tf.features.decoding import list_videos, sample_frames  # noqa: E402

# Six videos a caption can tell apart: colour, shape, direction; two frame rates.
VIDEOS = [("red", "square", "right", 10), ("blue", "circle", "left", 25),
          ("green", "square", "down", 10), ("yellow", "circle", "up", 25),
          ("white", "square", "left", 10), ("purple", "circle", "right", 25)]


def _centre_x(img):
    return np.nonzero(img.max(-1) > 120)[1].mean()


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    for colour, shape, direction, fps in VIDEOS:
        S.write_video(str(d / f"{colour}_{shape}.mp4"), seconds=3.0, fps=fps, colour=colour,
                      shape=shape, direction=direction, background="tinted")
    return str(d)


@pytest.mark.parametrize("fps", [10, 25])
def test_frames_are_sampled_by_timestamp(tmp_path, fps):
    path = S.write_video(str(tmp_path / "v.mp4"), seconds=3.0, fps=fps)
    frames = list(sample_frames(path, 2.0))
    # 3 s at 2 samples/s: t = 0, 0.5, ..., 2.5 -> 6 frames, whatever the source rate.
    assert [t for t, _ in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    for t, img in frames:
        assert img.shape == (120, 160, 3) and img.dtype == np.uint8
        # The square is where it is at time t (the shape moves 37 px/s; one source frame is at
        # most 0.1 s = 3.7 px, plus codec blur).
        assert abs(_centre_x(img) - S.position(t, 3.0, 160, 120)[0]) < 5


def test_variable_frame_rate(tmp_path):
    # Irregular presentation times: 40 frames at random instants over 3 s.
    times = np.sort(np.random.default_rng(0).uniform(0, 3, 40))
    times[0] = 0
    path = S.write_video(str(tmp_path / "vfr.mkv"), seconds=3.0, fps=10, times=times)
    for t, img in sample_frames(path, 2.0):
        # The frame on screen at t is the last one presented at or before t.
        shown = times[times <= t + 1e-6].max()
        assert abs(_centre_x(img) - S.position(shown, 3.0, 160, 120)[0]) < 5


def test_decoding_streams_memory_is_flat_in_length(tmp_path):
    def peak(seconds):
        path = S.write_video(str(tmp_path / f"{seconds}.mp4"), seconds=seconds, fps=25)
        tracemalloc.start()
        n = sum(1 for _ in sample_frames(path, 5.0))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return n, top
    n_short, short = peak(4)
    n_long, long_ = peak(24)
    assert (n_short, n_long) == (20, 120)
    # Six times the frames, about the same peak (a frame is 57 KB; holding all would be 6.9 MB).
    assert long_ < 1.5 * short + 200_000


def test_bad_files_name_the_file(tmp_path):
    S.write_audio_only(str(tmp_path / "sound.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    good = S.write_video(str(tmp_path / "good.mp4"), seconds=2.0, fps=10)
    data = open(good, "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 3])
    expected = {"sound": "no video stream", "empty": "empty file", "junk": "cannot open",
                "cut": "cannot", "missing": "no such file"}
    for name, reason in expected.items():
        with pytest.raises(DataError, match=reason) as e:
            list(sample_frames(str(tmp_path / f"{name}.mp4"), 2.0))
        assert f"file {tmp_path / name}.mp4" in str(e.value) and f"video {name}" in str(e.value)


def test_list_videos(tmp_path, video_dir):
    files = list_videos(video_dir)
    assert sorted(files) == sorted(f"{c}_{s}" for c, s, _, _ in VIDEOS)
    lst = tmp_path / "list.txt"
    lst.write_text(f"# two videos\n{files['red_square']}\n\n{files['blue_circle']}\n")
    assert list(list_videos(str(lst))) == ["red_square", "blue_circle"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dup = tmp_path / "dup.txt"
    dup.write_text("a/x.mp4\nb/x.mp4\n")
    with pytest.raises(DataError, match="two files give the video id 'x'"):
        list_videos(str(dup))


@pytest.mark.parametrize("name", ["inception_v3", "efficientnetv2_b0", "convnext_tiny"])
def test_backbones_build_offline_and_are_seeded(name):
    from hse_tf.features.frame_feature_extractor import FrameFeatureExtractor
    a = FrameFeatureExtractor(name, weights=None, seed=3)
    frames = np.stack([S.render(0.5, 3.0), S.render(2.0, 3.0)])
    size = a.spec.image_size
    tall = a.preprocess(S.render(2.0, 3.0, width=90, height=200)[None]).numpy()
    assert tall.shape == (1, size, size, 3)  # any frame size: shorter side resized, centre crop
    x = a.preprocess(frames).numpy()
    assert x.shape == (2, size, size, 3)
    if a.spec.scaling == "inception":  # [0, 255] -> [-1, 1]
        assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.8
    else:  # the network normalises [0, 255] itself
        assert x.max() > 200
    out = a(frames).numpy()
    assert out.shape == (2, a.dim) and np.isfinite(out).all()
    again = FrameFeatureExtractor(name, weights=None, seed=3)(frames).numpy()
    np.testing.assert_allclose(again, out, rtol=1e-5, atol=1e-6)


def test_offline_weights_error_says_where_to_put_the_file(monkeypatch, tmp_path):
    import keras

    from hse_tf.features import backbones

    def offline(*a, **k):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- "
                        "[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(backbones.WeightsUnavailable) as e:
        backbones.get_backbone("inception_v3").build("imagenet")
    msg = str(e.value)
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in msg
    assert os.path.join("models", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5") in msg
    assert "--weights PATH" in msg and "\n" not in msg


def _extract(videos, out, **kw):
    from hse_tf.features.extractor import extract
    args = dict(layout="hdf5", backbone="efficientnetv2_b0", fps=2.0, weights="none", seed=0,
                progress=False)
    return extract(videos, out, **{**args, **kw})


def test_extract_resumes_and_refuses_changed_settings(tmp_path, video_dir, monkeypatch):
    from hse_tf.data.features import open_features
    from hse_tf.features import extractor as X
    files = list_videos(video_dir)
    first = {k: files[k] for k in ("red_square", "blue_circle")}
    out = str(tmp_path / "feats.hdf5")
    stats = _extract(first, out)
    assert (stats["extracted"], stats["skipped_done"]) == (2, 0)
    store = open_features("hdf5", out)
    assert sorted(store.keys()) == ["blue_circle", "red_square"]
    red = store.get("red_square")
    assert red.shape == (6, 1280)  # 3 s at 2 fps
    settings = X.read_settings("hdf5", out)
    assert settings["backbone"] == "efficientnetv2_b0" and settings["fps"] == 2.0
    store.close()

    # An interrupted run: the writer dies after one more video; that video is kept.
    more = {**first, **{k: files[k] for k in ("green_square", "yellow_circle")}}
    real_write, calls = X.FeatureWriter.write, []

    def dies_second_time(self, vid, feats, src):
        calls.append(vid)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(self, vid, feats, src)
    monkeypatch.setattr(X.FeatureWriter, "write", dies_second_time)
    with pytest.raises(KeyboardInterrupt):
        _extract(more, out)
    monkeypatch.undo()
    assert len(os.listdir(out + ".partial/videos")) == 1
    stats = _extract(more, out)
    assert (stats["extracted"], stats["skipped_done"]) == (1, 3)
    assert not os.path.exists(out + ".partial")
    store = open_features("hdf5", out)
    assert len(store.keys()) == 4
    np.testing.assert_array_equal(store.get("red_square"), red)  # kept, not recomputed
    store.close()

    with pytest.raises(DataError, match=r"other settings \(fps=2.0 there, 1.0 now\)"):
        _extract(more, out, fps=1.0)
    with pytest.raises(DataError, match="backbone='efficientnetv2_b0' there"):
        _extract(more, out, backbone="inception_v3")


def test_extract_npz_layout_and_skip_bad(tmp_path, video_dir):
    from hse_tf.data.features import open_features
    files = {k: v for k, v in list_videos(video_dir).items() if k in ("red_square",
                                                                    "white_square")}
    files["broken"] = str(tmp_path / "broken.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    out = str(tmp_path / "npz")
    with pytest.raises(DataError, match="broken.mp4"):
        _extract(files, out, layout="inception_npz")
    stats = _extract(files, out, layout="inception_npz", on_bad_input="skip")
    assert stats["bad"] == 1 and stats["issues"].counts["bad_video"] == 1
    store = open_features("inception_npz", out)
    assert sorted(store.keys()) == ["red_square", "white_square"]
    assert store.get("white_square").shape == (6, 1280)


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "v").mkdir()
    S.write_audio_only(str(tmp_path / "v" / "radio.mp4"))
    done = subprocess.run([sys.executable, "-m", "hse_tf.features", "extract", "--videos",
                           str(tmp_path / "v"), "--out", str(tmp_path / "f.hdf5"), "--weights",
                           "none", "--backbone", "efficientnetv2_b0", "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, env={
                              k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: file {tmp_path}/v/radio.mp4, video radio, field 'video': no video "
                     f"stream (streams: audio)"]


@pytest.mark.slow
def test_video_files_to_search_end_to_end(video_gallery):
    """extract -> train a tiny HSE on generated captions -> export -> index build --videos ->
    search ranks the right video first (the suite's one pipeline: conftest.video_gallery)."""
    import tensorflow as tf

    from hse_tf.data.features import open_features
    from hse_tf.features.decoding import frame_batches
    from hse_tf.index.gallery_index import GalleryIndex
    from hse_tf.index.search import text_query
    from tests.conftest import CAPTIONS
    models, index = video_gallery["models"], video_gallery["index"]
    assert sorted(os.listdir(models)) == ["hse_features", "hse_text", "hse_video"]

    # hse_features computes what extraction computed, from the same decoded frames.
    module = tf.saved_model.load(os.path.join(models, "hse_features", "1"))
    meta = json.load(open(os.path.join(models, "hse_features", "1", "assets.extra",
                                       "hse_export.json")))
    assert meta["backbone"] == "inception_v3" and meta["fps"] == 2.0
    videos = list_videos(video_gallery["videos"])
    served = np.concatenate([module.signatures["serving_default"](frames=tf.constant(b))[
        "features"].numpy() for b in frame_batches(videos["red_square"], 2.0, 4)])
    np.testing.assert_allclose(served, open_features("hdf5", video_gallery["features"]).get(
        "red_square"), rtol=1e-4, atol=1e-4)

    done = subprocess.run([sys.executable, "-m", "hse_tf.index", "search", index,
                           CAPTIONS["blue_circle"], "-k", "3", "--json"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["results"][0]["id"] == "blue_circle", done.stdout
    gallery, encoders = GalleryIndex.load(index), video_gallery["encoders"]
    assert len(gallery) == len(CAPTIONS) == 7
    for vid, caption in CAPTIONS.items():
        results, _ = text_query(gallery, encoders, caption, 3, "rank")
        assert results[0]["id"] == vid, (caption, results)
    # Clips carry their times in seconds (frames were sampled at 2 fps).
    clips = GalleryIndex.load(os.path.join(index, "clips"))
    assert [c for c in clips.ids if c["video"] == "blue_circle"] == [
        {"video": "blue_circle", "start_frame": 0, "end_frame": 2, "start": 0.0, "end": 1.5},
        {"video": "blue_circle", "start_frame": 3, "end_frame": 5, "start": 1.5, "end": 3.0}]
