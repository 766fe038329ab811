"""Serving through real gRPC on loopback: parity, metadata, status codes, concurrency."""

import concurrent.futures
import os

import grpc
import numpy as np
import pytest

from tests.conftest import ROOT

TOL = 1e-5


@pytest.fixture(scope="module")
def served(exported):
    from hse_tf.serving.client import HSEClient
    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.server import start_server
    server, port, _ = start_server(ModelRegistry.from_dir(exported["out"]))
    client = HSEClient(f"127.0.0.1:{port}", timeout=120)
    yield {**exported, "client": client, "port": port}
    client.close()
    server.stop(None)


def _status(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value.code(), info.value.details()


def test_client_results_equal_keras(served):
    from hse_tf.data.pipeline import collate
    split, store, model = served["split"], served["store"], served["model"]
    idx = [0, 3, 7]
    want = model(collate([split.example(i) for i in idx], idx))
    anns = [split.annotations[i] for i in idx]
    got = served["client"].embed_videos([store.get(a.video_id) for a in anns],
                                        [a.segments for a in anns], [a.duration for a in anns])
    np.testing.assert_allclose(got["video"], want["video"], atol=TOL)
    np.testing.assert_allclose(np.concatenate(got["clips"]), want["clips"], atol=TOL)
    text = served["client"].embed_paragraphs([a.sentences for a in anns])
    np.testing.assert_allclose(text["paragraph"], want["paragraph"], atol=TOL)
    np.testing.assert_allclose(np.concatenate(text["sentences"]), want["sentences"], atol=TOL)


def test_metadata_lists_signatures(served):
    meta = served["client"].metadata("hse_text")
    assert set(meta) == {"serving_default", "ragged"}
    assert meta["serving_default"]["inputs"] == {"sentences": ("string", [-1, -1]),
                                                 "sentence_counts": ("int64", [-1])}
    assert meta["serving_default"]["outputs"]["paragraph"] == ("float32", [-1, 8])
    assert "frame_spans" in served["client"].metadata("hse_video")


def test_not_found_for_unknown_model_version_signature(served):
    c = served["client"]
    ok = {"sentences": np.array([[b"a man"]]), "sentence_counts": np.array([1], np.int64)}
    assert _status(c.predict, "nope", ok)[0] == grpc.StatusCode.NOT_FOUND
    assert _status(c.predict, "hse_text", ok, version=99)[0] == grpc.StatusCode.NOT_FOUND
    assert _status(c.predict, "hse_text", ok, signature="nope")[0] == grpc.StatusCode.NOT_FOUND
    assert _status(c.metadata, "nope")[0] == grpc.StatusCode.NOT_FOUND
    assert c.predict("hse_text", ok, version=1)["paragraph"].shape == (1, 8)


def test_malformed_requests_are_invalid_argument_and_server_keeps_serving(served):
    c = served["client"]
    good = {"sentences": np.array([[b"a man surfs", b""]]),
            "sentence_counts": np.array([1], np.int64)}
    cases = {
        "wrong dtype": ({**good, "sentence_counts": np.array([1], np.float32)}, "dtype"),
        "wrong rank": ({**good, "sentences": np.array([b"a man surfs"])}, "shape"),
        "missing input": ({"sentences": good["sentences"]}, "missing input"),
        "unexpected input": ({**good, "extra": np.array([1])}, "unexpected input"),
        "empty batch": ({"sentences": np.zeros((0, 1), bytes),
                         "sentence_counts": np.zeros(0, np.int64)}, "empty batch"),
        "10,000 sentences": ({"sentences": np.array([[b"a man surfs"] * 10000]),
                              "sentence_counts": np.array([10000], np.int64)}, "more than 30"),
        "non-UTF-8": ({"sentences": np.array([[b"a man \xff\xfe surfs"]]),
                       "sentence_counts": np.array([1], np.int64)}, "UTF-8"),
        "empty sentence": ({"sentences": np.array([[b"a man surfs", b"  ?! "]]),
                            "sentence_counts": np.array([2], np.int64)},
                           "sentences: paragraph 0, sentence 1 has no words (empty or "
                           "punctuation only)"),
    }
    for name, (inputs, words) in cases.items():
        code, details = _status(c.predict, "hse_text", inputs)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, name
        assert words in details, (name, details)
        if name == "empty sentence":  # plain words, no TF internals
            assert "Condition" not in details and "StringSplit" not in details, details
        assert c.predict("hse_text", good)["paragraph"].shape == (1, 8)  # still serving
    feats = np.zeros((1, 5, 8), np.float32)
    feats[0, 2, 1] = np.nan
    video = {"features": feats, "feature_lengths": np.array([5], np.int64),
             "clip_times": np.array([[[0.0, 1.0]]]), "clip_counts": np.array([1], np.int64),
             "durations": np.array([2.5])}
    code, details = _status(c.predict, "hse_video", video)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "NaN" in details
    code, details = _status(c.predict, "hse_video", {**video, "features": np.zeros((1, 5, 7),
                                                                                  np.float32)})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "features" in details
    video["features"] = np.nan_to_num(feats)
    assert c.predict("hse_video", video)["video"].shape == (1, 8)


def test_eight_concurrent_clients_fifty_requests_each(served):
    from hse_tf.serving.client import HSEClient
    anns = served["anns"]
    expected = served["client"].embed_paragraphs([a.sentences for a in anns[:8]])["paragraph"]

    def worker(k):
        client = HSEClient(f"127.0.0.1:{served['port']}", timeout=120)
        try:
            for _ in range(50):
                out = client.embed_paragraphs([anns[k].sentences])["paragraph"][0]
                np.testing.assert_allclose(out, expected[k], atol=TOL)
            return 50
        finally:
            client.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(worker, range(8))) == 400


def _padded_video(features, segments, duration, width_t, width_c):
    """One video as a padded serving_default request of fixed widths (so requests merge)."""
    feats = np.zeros((1, width_t, features.shape[1]), np.float32)
    feats[0, :len(features)] = features
    times = np.zeros((1, width_c, 2))
    times[0, :len(segments)] = segments
    return {"features": feats, "feature_lengths": np.array([len(features)], np.int64),
            "clip_times": times, "clip_counts": np.array([len(segments)], np.int64),
            "durations": np.array([duration])}


def test_batching_server_eight_clients_half_malformed(exported):
    """TF Serving-style batching (batching.config parameters): 8 clients x 50 requests, every
    other one malformed; good requests get exactly their answer alone, bad ones
    INVALID_ARGUMENT, and requests were merged."""
    import tensorflow as tf

    from hse_tf.serving.batching import BatchingParameters
    from hse_tf.serving.client import HSEClient
    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.server import start_server
    params = BatchingParameters.parse("max_batch_size { value: 8 }\n"
                                      "batch_timeout_micros { value: 20000 }  # 20 ms\n"
                                      "max_enqueued_batches { value: 100 }\n"
                                      "num_batch_threads { value: 2 }\n"
                                      "pad_variable_length_inputs: true\n")
    assert (params.max_batch_size, params.batch_timeout_micros, params.num_batch_threads) == (
        8, 20000, 2)
    anns, store = exported["anns"][:8], exported["store"]
    feats = [store.get(a.video_id) for a in anns]
    width_t, width_c = max(len(f) for f in feats), max(len(a.segments) for a in anns)
    requests = [_padded_video(f, a.segments, a.duration, width_t, width_c)
                for f, a in zip(feats, anns)]
    alone = exported["video"].signatures["serving_default"]
    expected = [{k: v.numpy() for k, v in alone(**{n: tf.constant(x) for n, x in r.items()}
                                                ).items()} for r in requests]
    server, port, service = start_server(ModelRegistry.from_dir(exported["out"]),
                                         batching=params)
    batcher = service.batcher

    def worker(k):
        client = HSEClient(f"127.0.0.1:{port}", timeout=120)
        good = bad = 0
        try:
            for i in range(50):
                if i % 2:  # malformed: NaN features (the model rejects it) or a wrong dtype
                    broken = {**requests[k], "features": requests[k]["features"].copy()}
                    if i % 4 == 1:
                        broken["features"][0, 0, 0] = np.nan
                    else:
                        broken["durations"] = broken["durations"].astype(np.float32)
                    code, _ = _status(client.predict, "hse_video", broken)
                    assert code == grpc.StatusCode.INVALID_ARGUMENT
                    bad += 1
                else:
                    out = client.predict("hse_video", requests[k])
                    for name in ("video", "clips"):
                        np.testing.assert_allclose(out[name], expected[k][name], atol=TOL)
                    good += 1
            return good, bad
        finally:
            client.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            counts = list(pool.map(worker, range(8)))
    finally:
        server.stop(None)
    assert counts == [(25, 25)] * 8
    assert batcher.merged_calls > 0  # concurrent requests were merged


def test_models_config_and_cli(served, tmp_path, capsys):
    from hse_tf.serving import client
    from hse_tf.serving.model_registry import read_models_config
    config = os.path.join(ROOT, "serving", "models.config")
    entries = read_models_config(config, models_dir=served["out"])
    assert [e[0] for e in entries] == ["hse_video", "hse_text"]
    assert all(os.path.isdir(e[1]) for e in entries)  # /models/<name> re-rooted for local use
    server = f"127.0.0.1:{served['port']}"
    assert client.main(["--server", server, "text", "a man surfs.", "zyzzyva qwxv"]) == 0
    out = capsys.readouterr()
    assert '"paragraph": [' in out.out and "not in the model's vocabulary" in out.err
    vid = served["split"].annotations[0].video_id
    assert client.main(["--server", server, "video", "--features", served["split"].store.path,
                        "--video_id", vid, "--clip_times", "0:3,3:6", "--duration", "9"]) == 0
    assert '"clips": [[' in capsys.readouterr().out
    assert client.main(["--server", server, "metadata", "--model", "nope"]) == 2
    assert "NOT_FOUND" in capsys.readouterr().err
