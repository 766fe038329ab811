"""The search page's back end over HTTP (FastAPI's TestClient): records, moments, files,
errors, the token, and Range requests; on a gallery built end to end from synthetic video
files whose right answers are known (tests/conftest.py: video_gallery)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import CAPTIONS, ROOT

pytest.importorskip("av")
pytest.importorskip("fastapi")


def _client(index, text_index=None, token=None, models=None):
    from fastapi.testclient import TestClient

    from hse_tf.app.__main__ import _parser, build_app
    args = ["--index", index] + (["--text_index", text_index] if text_index else []) + (
        ["--models", models] if models else [])
    parsed = _parser().parse_args(args)
    if token:
        path = os.path.join(os.path.dirname(index), "token.txt")
        with open(path, "w") as f:
            f.write(token + "\n")
        parsed.auth_token_file = path
    app, _ = build_app(parsed)
    return TestClient(app)


@pytest.fixture(scope="module")
def client(video_gallery):
    return _client(video_gallery["index"], video_gallery["text"])


def test_every_caption_finds_its_video_with_cli_records(client, video_gallery):
    from hse_tf.index import GalleryIndex
    from hse_tf.index.search import text_query
    index = GalleryIndex.load(video_gallery["index"])
    for vid, caption in CAPTIONS.items():
        r = client.get("/api/search", params={"q": caption, "k": 3})
        assert r.status_code == 200
        data = r.json()
        assert data["results"][0]["id"] == vid, (caption, data["results"])
        cli, _ = text_query(index, video_gallery["encoders"], caption, 3)
        assert [{k: x[k] for k in ("rank", "id", "score")} for x in data["results"]] == cli
    first = client.get("/api/search", params={"q": CAPTIONS["blue_circle"]}).json()["results"][0]
    assert first["thumbnail"] == "/thumbs/blue_circle"
    assert first["media"] == "/media/blue_circle"
    assert [c["start"] for c in first["clips"]] == [0.0, 1.5]
    (moment,) = first["moments"]  # one sentence: the best-matching clip of this video
    assert moment["text"] == CAPTIONS["blue_circle"] and moment["clip"] in (0, 1)
    assert (moment["start"], moment["end"]) == ((0.0, 1.5) if moment["clip"] == 0 else (1.5, 3.0))
    jpeg = client.get(first["thumbnail"])
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content[:2] == b"\xff\xd8"
    assert client.get(first["clips"][1]["thumbnail"]).status_code == 200


def test_paragraph_query_shows_the_clip_each_sentence_matches(client, video_gallery):
    from hse_tf.index import GalleryIndex
    sentences = ["a blue circle moves left.", "the red square keeps going right."]
    data = client.get("/api/search", params={"q": " ".join(sentences), "k": 2}).json()
    assert data["sentences"] == sentences
    emb = video_gallery["encoders"].embed_text([sentences])["sentences"][0]
    clips = GalleryIndex.load(os.path.join(video_gallery["index"], "clips"))
    for result in data["results"]:
        rows = [i for i, c in enumerate(clips.ids) if c["video"] == result["id"]]
        sims = emb @ np.asarray(clips.embeddings[rows]).T
        assert [m["clip"] for m in result["moments"]] == list(np.argmax(sims, axis=1))
        for m, s in zip(result["moments"], sims):
            assert m["score"] == pytest.approx(float(s.max()), abs=1e-5)


def test_clip_level_returns_moments(client, video_gallery):
    from hse_tf.index import GalleryIndex
    from hse_tf.index.search import text_query
    q = "a yellow circle moves up."
    data = client.get("/api/search", params={"q": q, "k": 4, "level": "clip"}).json()
    want, _ = text_query(GalleryIndex.load(os.path.join(video_gallery["index"], "clips")),
                         video_gallery["encoders"], q, 4)
    assert [r["id"] for r in data["results"]] == [w["id"] for w in want]
    top = data["results"][0]
    assert top["video"] == top["id"]["video"] and top["moments"][0]["start"] == top["id"]["start"]


def test_video_record_and_paragraphs_like_it(client):
    v = client.get("/api/videos/red_square").json()
    assert v["id"] == "red_square" and len(v["clips"]) == 2 and v["media"] == "/media/red_square"
    similar = client.get(v["paragraphs_like"]).json()["results"]
    assert similar[0]["id"] == "red_square" and similar[0]["first_sentence"] == CAPTIONS[
        "red_square"]
    assert client.get("/api/videos/nope").status_code == 404


@pytest.mark.parametrize("params, parameter, says", [
    ({"q": ""}, "q", "empty query"),
    ({"q": "   "}, "q", "empty query"),
    ({"q": "zyzzyva qwxv"}, "q", "no word of the query"),
    ({"q": "?!"}, "q", "has no words"),
    ({"q": "x " * 600}, "q", "the query is 1,199 characters long; the limit is 1,000"),
    ({"q": "a red square.", "k": "0"}, "k", "between 1 and 100"),
    ({"q": "a red square.", "k": "-3"}, "k", "between 1 and 100"),
    ({"q": "a red square.", "k": "101"}, "k", "between 1 and 100"),
    ({"q": "a red square.", "k": "ten"}, "k", "not an integer"),
    ({"q": "a red square.", "level": "frames"}, "level", "must be one of video, clip"),
    ({"q": "a red square. a blue circle.", "level": "clip"}, "q",
     "a moment search takes one sentence; this query has 2"),
])
def test_bad_queries_are_400_naming_the_parameter(client, params, parameter, says):
    r = client.get("/api/search", params=params)
    assert r.status_code == 400
    assert r.json()["parameter"] == parameter and says in r.json()["error"]
    assert client.get("/api/search", params={"q": "a red square."}).status_code == 200


def test_range_requests_on_media(client, video_gallery):
    data = open(os.path.join(video_gallery["videos"], "blue_circle.webm"), "rb").read()
    r = client.get("/media/blue_circle", headers={"Range": "bytes=10-109"})
    assert r.status_code == 206 and r.content == data[10:110]
    assert r.headers["content-range"] == f"bytes 10-109/{len(data)}"
    assert r.headers["accept-ranges"] == "bytes"
    full = client.get("/media/blue_circle")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/webm"
    assert client.get("/media/blue_circle", headers={"Range": "bytes=-20"}).content == data[-20:]


@pytest.mark.parametrize("path", [
    "/media/../../etc/passwd", "/media/..%2F..%2Fetc%2Fpasswd", "/media/%2Fetc%2Fpasswd",
    "/media/nope", "/thumbs/nope", "/thumbs/blue_circle?clip=7", "/thumbs/blue_circle?clip=-1",
    "/static/..%2F__init__.py", "/static/index.html", "/static/../gallery.py",
    "/thumbs/..%2Fthumbnails", "/api/videos/..%2F..%2Fetc%2Fpasswd"])
def test_nothing_outside_the_gallery_is_served(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert b"root:" not in r.content


def test_token_is_needed_both_ways(video_gallery):
    c = _client(video_gallery["index"], token="s3cret")
    assert c.get("/api/search", params={"q": "a red square."}).status_code == 401
    assert c.get("/healthz", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/media/blue_circle").status_code == 401
    ok = c.get("/api/search", params={"q": "a red square."},
               headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["results"]
    page = c.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert c.post("/login", data={"token": "wrong"}).status_code == 401
    signed = c.post("/login", data={"token": "s3cret"}, follow_redirects=False)
    assert signed.status_code == 303 and "httponly" in signed.headers["set-cookie"].lower()
    assert c.get("/api/search", params={"q": "a red square."}).status_code == 200  # cookie


def test_health_metrics_openapi(client):
    health = client.get("/healthz").json()
    assert health == {"status": "ok", "videos": 7, "clips": 14, "thumbnails": True, "media": 7,
                      "text_index": True, "limits": {"max_k": 100, "max_chars": 1000,
                                                     "max_sentences": 16}}
    client.get("/api/search", params={"q": ""})
    text = client.get("/metrics").text
    assert 'hse_app_requests_total{method="GET",route="/api/search",status="400"}' in text
    assert 'hse_app_errors_total{route="/api/search",status="400"}' in text
    assert "hse_app_request_seconds_bucket" in text
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/videos/{video_id}", "/healthz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 404  # its page would load scripts from a CDN
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in (
        page.text.replace("http-equiv", ""))


def test_feature_index_has_no_thumbnails_and_older_indices_load(exported, tiny_demo, tmp_path):
    from hse_tf.index.builder import build_video_index
    from hse_tf.data.features import open_features
    index = str(tmp_path / "idx")
    build_video_index(exported["out"], open_features("c3d_hdf5", tiny_demo["features"]), index,
                      progress=False)
    c = _client(index)
    assert c.get("/healthz").json()["thumbnails"] is False
    q = " ".join(exported["split"].annotations[2].sentences)
    result = c.get("/api/search", params={"q": q}).json()["results"][0]
    assert result["thumbnail"] is None and result["media"] is None and result["clips"]
    # An index written before model records and checksums (older hse_tf) still serves.
    for folder in (index, os.path.join(index, "clips")):
        meta = json.load(open(os.path.join(folder, "index.json")))
        for key in ("models", "checksums", "format"):  # format 1: before checksums
            meta.pop(key)
        json.dump(meta, open(os.path.join(folder, "index.json"), "w"))
    old = _client(index)
    assert old.get("/api/search", params={"q": q}).json()["results"][0]["id"] == result["id"]


def test_thumbnails_added_later_from_the_video_files(video_gallery, tmp_path):
    import shutil

    from hse_tf import cli
    from hse_tf.index.__main__ import main
    index = str(tmp_path / "index")
    shutil.copytree(video_gallery["index"], index)
    shutil.rmtree(os.path.join(index, "thumbnails"))
    os.remove(os.path.join(index, "media.json"))
    assert _client(index).get("/healthz").json()["thumbnails"] is False
    assert cli.run(main, ["thumbnails", index, "--videos", video_gallery["videos"],
                          "--quiet"]) == 0
    c = _client(index)
    assert c.get("/healthz").json()["media"] == 7
    assert c.get("/thumbs/red_square?clip=1").status_code == 200
    assert sorted(os.listdir(os.path.join(index, "thumbnails"))) == sorted(
        os.listdir(os.path.join(video_gallery["index"], "thumbnails")))


@pytest.mark.parametrize("break_it, says", [
    (lambda index: None, "/nonexistent/index/index.json: no index here"),
    (lambda index: open(os.path.join(index, "ids.json"), "a").write(" "),
     "ids.json: checksum mismatch"),
])
def test_missing_or_corrupt_index_refuses_to_start(video_gallery, tmp_path, break_it, says):
    import shutil
    index = str(tmp_path / "index")
    shutil.copytree(video_gallery["index"], index)
    target = index if break_it(index) is not None else "/nonexistent/index"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "hse_tf.app", "--index", target, "--port", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": ROOT})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], done.stderr


def test_queries_through_tf_serving_grpc_equal_in_process(video_gallery):
    """--serving HOST:PORT: the page embeds queries through the gRPC PredictionService (here
    the development stand-in), pinned to the version that built the index."""
    from fastapi.testclient import TestClient

    from hse_tf.app.__main__ import _parser, build_app
    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.server import start_server
    server, port, _ = start_server(ModelRegistry.from_dir(video_gallery["models"]))
    try:
        app, gallery = build_app(_parser().parse_args(
            ["--index", video_gallery["index"], "--serving", f"127.0.0.1:{port}"]))
        assert gallery.text.version == 1
        remote = TestClient(app)
        local = _client(video_gallery["index"])
        for q in (CAPTIONS["green_square"], "a blue circle moves left. the red square."):
            a = remote.get("/api/search", params={"q": q}).json()["results"]
            b = local.get("/api/search", params={"q": q}).json()["results"]
            assert [r["id"] for r in a] == [r["id"] for r in b]
            np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b],
                                       atol=1e-5)
            assert [m["clip"] for r in a for m in r["moments"]] == [
                m["clip"] for r in b for m in r["moments"]]
    finally:
        server.stop(None)
