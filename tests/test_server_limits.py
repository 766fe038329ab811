"""The development server under hostile requests and careless start-ups: bounded memory, one
port per server, TLS, a bearer token, and configs that say what is wrong."""

import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.conftest import ROOT, peak_rss_mb as _peak_rss_mb


def _start(exported, **kwargs):
    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.server import start_server
    return start_server(ModelRegistry.from_dir(exported["out"]), **kwargs)


def _code(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value.code(), info.value.details()


def _amplified(kind, rows):
    """A request of a few hundred bytes that declares a huge tensor filled from one value."""
    req = predict_pb2.PredictRequest()
    if kind == "features":
        req.model_spec.name = "hse_video"
        t = req.inputs["features"]
        t.dtype = types_pb2.DT_FLOAT
        for size in (1, rows, 64):
            t.tensor_shape.dim.add(size=size)
        t.float_val.append(1.0)
        for name, dtype, shape, field, value in (
                ("feature_lengths", types_pb2.DT_INT64, [1], "int64_val", rows),
                ("clip_counts", types_pb2.DT_INT64, [1], "int64_val", 1),
                ("clip_times", types_pb2.DT_DOUBLE, [1, 1, 2], "double_val", None),
                ("durations", types_pb2.DT_DOUBLE, [1], "double_val", 10.0)):
            x = req.inputs[name]
            x.dtype = dtype
            for size in shape:
                x.tensor_shape.dim.add(size=size)
            getattr(x, field).extend([0.0, 10.0] if value is None else [value])
    else:
        req.model_spec.name = "hse_text"
        t = req.inputs["sentences"]
        t.dtype = types_pb2.DT_STRING
        for size in (rows, 1):
            t.tensor_shape.dim.add(size=size)
        t.string_val.append(b"a man is surfing on a wave")
        c = req.inputs["sentence_counts"]
        c.dtype = types_pb2.DT_INT64
        c.tensor_shape.dim.add(size=1)
        c.int64_val.append(1)
    return req


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_amplification_requests_are_refused_with_bounded_memory(exported):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.Popen([sys.executable, "-m", "hse_tf.serving.server", "--models_dir",
                             exported["out"], "--port", "0"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**env, "PYTHONPATH": ROOT})
    try:
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
        port, deadline = None, time.time() + 120
        while port is None and time.time() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read()
                continue
            if " on 127.0.0.1:" in line:
                port = int(line.rsplit(":", 1)[1].split()[0])
        assert port, "server did not start"
        from hse_tf.serving.client import HSEClient
        client = HSEClient(f"127.0.0.1:{port}", timeout=60)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(client.channel)
        paragraph = [["a man is surfing on a wave", "he falls"]]
        want = client.embed_paragraphs(paragraph)["paragraph"]
        base = _peak_rss_mb(proc.pid)
        for kind, rows, code in (("features", 4_000_000, grpc.StatusCode.RESOURCE_EXHAUSTED),
                                 ("features", 200_000, grpc.StatusCode.INVALID_ARGUMENT),
                                 ("sentences", 100_000, grpc.StatusCode.RESOURCE_EXHAUSTED),
                                 ("sentences", 60_000, grpc.StatusCode.INVALID_ARGUMENT)):
            request = _amplified(kind, rows)
            assert request.ByteSize() < 300
            got, details = _code(stub.Predict, request, timeout=60)
            assert got == code, details
            assert kind in details
        # Still answering, with the same result; the peak memory barely moved (it was
        # +4 GB and +5 GB for the first and third request before the limits).
        np.testing.assert_allclose(client.embed_paragraphs(paragraph)["paragraph"], want,
                                   atol=1e-6)
        assert _peak_rss_mb(proc.pid) - base < 200
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_declared_sizes_are_checked(exported):
    from hse_tf.serving.limits import LimitError, RequestLimits, declared_bytes
    import tensorflow as tf
    limits = RequestLimits(max_elements=1000, max_bytes=2000, max_strings=10, broadcast_max=4)
    ok = tf.make_tensor_proto(np.ones((2, 3), np.float32))
    assert declared_bytes("x", ok, limits) == 24
    small = tf.make_tensor_proto(0.0, tf.float32, [2, 2])  # TF's fill rule, 4 <= broadcast_max
    assert declared_bytes("x", small, limits) == 16
    for proto, code in ((tf.make_tensor_proto(0.0, tf.float32, [3, 3]), "INVALID_ARGUMENT"),
                        (tf.make_tensor_proto(np.ones((600,), np.float32)), "RESOURCE_EXHAUSTED"),
                        (tf.make_tensor_proto(np.ones((1001,), np.int8)), "RESOURCE_EXHAUSTED"),
                        (tf.make_tensor_proto([b"a"] * 11), "RESOURCE_EXHAUSTED")):
        with pytest.raises(LimitError) as e:
            declared_bytes("x", proto, limits)
        assert e.value.code_name == code
    short = tf.make_tensor_proto(np.ones((2, 3), np.float32))
    short.tensor_content = short.tensor_content[:-4]
    with pytest.raises(LimitError, match="needs 24 bytes of tensor_content, got 20"):
        declared_bytes("x", short, limits)


def test_inflight_budget_refuses_beyond_its_cap(exported):
    from hse_tf.serving.limits import InflightBudget, LimitError
    budget = InflightBudget(100)
    budget.take(60)
    with pytest.raises(LimitError, match="server busy"):
        budget.take(50)
    budget.give(60)
    budget.take(100)


def test_non_finite_inputs_are_invalid(exported):
    from hse_tf.serving.client import HSEClient
    server, port, _ = _start(exported)
    client = HSEClient(f"127.0.0.1:{port}", timeout=60)
    try:
        ann = exported["anns"][0]
        feats = exported["store"].get(ann.video_id)
        code, details = _code(client.embed_videos, [feats], [ann.segments], [float("inf")])
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "durations" in details
        bad = feats.copy()
        bad[0, 0] = np.nan
        code, details = _code(client.embed_videos, [bad], [ann.segments], [ann.duration])
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "features" in details
        assert client.embed_videos([feats], [ann.segments], [ann.duration])["video"].shape[0] == 1
    finally:
        client.close()
        server.stop(None)


def test_a_second_server_on_a_busy_port_fails(exported):
    server, port, _ = _start(exported)
    try:
        with pytest.raises(OSError, match=f"cannot bind 127.0.0.1:{port}: in use"):
            _start(exported, port=port)
        with pytest.raises(ValueError, match="--port must be in 0..65535"):
            _start(exported, port=-1)
    finally:
        server.stop(None)


def _self_signed(tmp_path):
    if not shutil.which("openssl"):
        if os.environ.get("CI"):
            raise AssertionError("openssl is needed to make the test certificate")
        pytest.skip("openssl not found (needed to make a self-signed certificate)")
    key, crt = tmp_path / "server.key", tmp_path / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key.read_bytes(), crt.read_bytes()


def test_tls_and_bearer_token_round_trip(exported, tmp_path):
    from hse_tf.serving.client import HSEClient
    key, crt = _self_signed(tmp_path)
    creds = grpc.ssl_server_credentials([(key, crt)])
    server, port, _ = _start(exported, credentials=creds, token="s3cret")
    target, sentences = f"127.0.0.1:{port}", [["a man is surfing"]]
    clients = []

    def client(**kwargs):
        clients.append(HSEClient(target, timeout=30, ssl_target_name="localhost", **kwargs))
        return clients[-1]
    try:
        good = client(ssl_ca=crt, token="s3cret").embed_paragraphs(sentences)["paragraph"]
        want = exported["text"].signatures["serving_default"](
            sentences=np.array([[b"a man is surfing"]]),
            sentence_counts=np.array([1], np.int64))["paragraph"].numpy()
        np.testing.assert_allclose(good, want, atol=1e-5)
        for kwargs in ({"ssl_ca": crt}, {"ssl_ca": crt, "token": "wrong"}):
            code, _ = _code(client(**kwargs).embed_paragraphs, sentences)
            assert code == grpc.StatusCode.UNAUTHENTICATED
        code, _ = _code(client(token="s3cret").embed_paragraphs, sentences)  # no TLS
        assert code == grpc.StatusCode.UNAVAILABLE
    finally:
        for c in clients:
            c.close()
        server.stop(None)


def test_loopback_detection():
    from hse_tf.cli import is_loopback
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com"))


def test_models_config_errors_name_the_file(tmp_path, exported):
    from hse_tf.serving.model_registry import ModelRegistry
    empty, garbage = tmp_path / "empty.config", tmp_path / "garbage.config"
    empty.write_text("model_config_list {}\n")
    garbage.write_text("this is { not a config")
    with pytest.raises(ValueError, match="empty.config: lists no models"):
        ModelRegistry.from_config(str(empty))
    with pytest.raises(ValueError, match="garbage.config: not a TF Serving model config"):
        ModelRegistry.from_config(str(garbage))
