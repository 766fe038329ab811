"""Numbers and files that can be believed (issue 27): each test names the item it checks and
failed on main 1365aea.

1 evaluate's defaults; 2 non-finite models; 3 resume; 4 gRPC amplification; 5 the page's request
bodies; 6 results files; 7 index folders at every depth; 8 one writer per output; 9 index kinds;
10 corrupt files; 11 export = training preprocessing; 12 the smaller ones.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from hse_tf import cli
from hse_tf.data.outputs import OutputError
from tests.conftest import ROOT, peak_rss_mb as _peak_rss_mb, tiny_config


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "PYTHONPATH": ROOT}


def _run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *[str(a) for a in args]],
                          capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=timeout)


def _one_line_error(done, *says):
    """Exit code 2 and one error line (argparse's usage lines before it aside)."""
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    lines = [x for x in done.stderr.strip().splitlines()
             if not x.startswith(("usage:", " "))]
    assert len(lines) == 1 and "error:" in lines[0], done.stderr[-3000:]
    for s in says:
        assert s in lines[0], lines[0]
    return lines[0]


def _index_cli(*args):
    from hse_tf.index.__main__ import main
    return cli.run(main, [str(a) for a in args])


def _copy_run(trained_run, tmp_path, name="run"):
    run = str(tmp_path / name)
    shutil.copytree(trained_run, run)
    return run


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _tree_hashes(folder):
    return {os.path.relpath(os.path.join(r, n), folder): _sha(os.path.join(r, n))
            for r, _, names in os.walk(folder) for n in names}


# -- 1: evaluate with its defaults -------------------------------------------------------------

def test_1_evaluate_command_with_its_defaults(trained_run, tmp_path):
    run = _copy_run(trained_run, tmp_path)
    done = _run("hse_tf.evaluate", "--checkpoint", run)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = json.load(open(os.path.join(run, "checkpoint.json")))["latest"]
    result = json.load(open(os.path.join(run, ckpt, "eval.json")))
    assert sorted(result["uniform_proposals"]) == ["1", "2", "3", "4"]
    assert sorted(result["incomplete_observation"]) == ["1", "2", "3", "4", "5"]
    assert result["retrieval"]["p2v"]["R@1"] == pytest.approx(
        json.load(open(os.path.join(run, "results.json")))["p2v"]["R@1"])


def test_1_proposal_views_keep_each_sentence_with_its_own_paragraph(exported):
    """Uniform proposals give a video K clips and still all its sentences: the sentences must
    come back in split order, the same as without proposals (they were cut by the clips' order,
    misaligned for K < sentences and out of bounds for K > sentences)."""
    from hse_tf.evaluation import embed_split
    split = exported["split"]
    plain = embed_split(exported["model"], split, batch_size=5)
    counts = [len(w) for w in split.word_ids]
    assert min(counts) < 4 < max(counts) or min(counts) != max(counts)
    for k in (1, 2, 3, 4):
        emb = embed_split(exported["model"], split.view(proposals=k), batch_size=5)
        assert len(emb["clips"]) == k * len(split)
        np.testing.assert_allclose(emb["sentences"], plain["sentences"], atol=1e-5)
        np.testing.assert_allclose(emb["paragraph"], plain["paragraph"], atol=1e-5)


# -- 2: a NaN model is never scored ------------------------------------------------------------

def test_2_metrics_refuse_non_finite_embeddings_and_ties_never_hit():
    from hse_tf.metrics import (NonFiniteError, bidirectional_retrieval, group_ranks,
                                ranks_from_similarity)
    nan = np.full((4, 3), np.nan, np.float32)
    with pytest.raises(NonFiniteError, match="NaN or Inf"):
        bidirectional_retrieval(nan, nan)
    video = np.eye(3, dtype=np.float32)
    with pytest.raises(NonFiniteError, match="row 1"):
        bidirectional_retrieval(video, np.array([[1, 0, 0], [np.inf, 0, 0], [0, 0, 1]],
                                                np.float32))
    with pytest.raises(NonFiniteError):
        group_ranks(nan, nan, [0, 1, 2, 3], [0, 1, 2, 3])
    # Hand-computed: query 0 ties with item 1 (rank 2, not 1); query 1 is alone on top (1);
    # a query whose scores are all equal gets the worst rank (3 of 3).
    sim = np.array([[0.5, 0.5, 0.1], [0.2, 0.9, 0.3], [0.4, 0.4, 0.4]])
    assert ranks_from_similarity(sim).tolist() == [2, 1, 3]
    zeros = np.zeros((3, 2), np.float32)
    r = bidirectional_retrieval(zeros, zeros)
    assert r["p2v"]["R@1"] == 0.0 and r["p2v"]["MR"] == 3.0


@pytest.mark.parametrize("args, flag", [
    (["--lr", "nan"], "--lr"), (["--lr", "inf"], "--lr"), (["--max_frames", "0"], "max_frames"),
    (["--lr_decay_every", "0"], "lr_decay_every"), (["--hidden", "0"], "hidden")])
def test_2_bad_training_numbers_are_one_line(args, flag, tmp_path):
    done = _run("hse_tf.train", "--dataset=demo", f"--demo_dir={tmp_path / 'demo'}",
                f"--run_dir={tmp_path / 'run'}", "--epochs=1", *args)
    _one_line_error(done, flag)
    assert not os.path.exists(tmp_path / "run")


def test_2_train_api_refuses_bad_numbers(tiny_demo, tmp_path):
    from hse_tf.training import train
    for key, value, says in (("lr", float("nan"), "--lr"), ("max_frames", 0, "--max_frames"),
                             ("lr_decay_every", 0, "--lr_decay_every"),
                             ("hidden", 0, "--hidden")):
        with pytest.raises(ValueError, match=says):
            train(tiny_config(tiny_demo, str(tmp_path / "r"), **{key: value}),
                  str(tmp_path / "r"), verbose=0)
        assert not os.path.exists(tmp_path / "r")


def test_2_a_diverging_run_stops_without_a_checkpoint(tiny_demo, tmp_path):
    """A loss that becomes NaN stops training with one error; no checkpoint, no results."""
    from hse_tf.training import train
    from hse_tf.training.callbacks import NonFiniteLoss
    run = str(tmp_path / "nan")
    # Features of 1e30 overflow the GRU's products to inf, and the loss to NaN.
    from hse_tf.data.features import open_features, write_features
    store = open_features("c3d_hdf5", tiny_demo["features"])
    big = str(tmp_path / "big.hdf5")
    write_features("c3d_hdf5", big, {v: store.get(v) * 1e30 for v in store.keys()})
    with pytest.raises(NonFiniteLoss, match="training loss is (nan|inf) at epoch 1, step 1"):
        train(tiny_config(tiny_demo, run, features=big, epochs=1), run, verbose=0)
    assert not os.path.exists(run)


def test_2_monitor_raises_on_a_non_finite_batch_loss(tmp_path):
    from hse_tf.training.callbacks import NonFiniteLoss, TrainMonitor
    monitor = TrainMonitor(str(tmp_path), {}, None, None, 4, 64, 0, verbose=0)
    monitor.on_train_batch_end(0, {"loss": 1.5})
    for bad in (float("nan"), float("inf")):
        with pytest.raises(NonFiniteLoss, match="step 3"):
            monitor.on_train_batch_end(2, {"loss": np.float32(bad)})


# -- 3: a resume never starts over -------------------------------------------------------------

def test_3_resume_with_a_missing_latest_checkpoint_continues_from_the_newest(trained_run,
                                                                           tiny_demo, tmp_path):
    from hse_tf.training import checkpoints, train
    run = _copy_run(trained_run, tmp_path)
    with open(os.path.join(run, "checkpoint.json"), "w") as f:
        json.dump({"latest": "ckpt-0006", "epoch": 6}, f)
    before = _tree_hashes(os.path.join(run, "ckpt-0001"))
    train(tiny_config(tiny_demo, run, epochs=2), run, resume=True, verbose=0, projector_max=0)
    assert _tree_hashes(os.path.join(run, "ckpt-0001")) == before  # not rewritten
    assert checkpoints.read_state(checkpoints.latest(run))["epoch"] == 2
    assert os.path.basename(checkpoints.latest(run)) == "ckpt-0002"


def test_3_resume_without_any_complete_checkpoint_is_refused(trained_run, tiny_demo, tmp_path):
    from hse_tf.training import train
    run = _copy_run(trained_run, tmp_path)
    os.remove(os.path.join(run, "ckpt-0001", "model.weights.h5"))  # incomplete
    config = _sha(os.path.join(run, "run_config.json"))
    with pytest.raises(OutputError, match="no complete checkpoint.*--overwrite"):
        train(tiny_config(tiny_demo, run, epochs=2), run, resume=True, verbose=0)
    assert _sha(os.path.join(run, "run_config.json")) == config
    assert sorted(os.listdir(os.path.join(run, "ckpt-0001"))) == ["state.json"]


# -- 4: gRPC requests cannot take gigabytes ----------------------------------------------------

def _serve(module, args, port_of):
    """Starts `python -m module args` and waits for the line `port_of` reads a port from
    (None until then): (process, port); port None when the process exited first."""
    import queue
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            port = port_of(lines.get(timeout=1.0))
        except queue.Empty:
            if proc.poll() is not None:
                return proc, None
            continue
        if port:
            return proc, port
    proc.kill()
    raise AssertionError(f"{module} did not start")


def _server(models, *flags):
    proc, port = _serve("hse_tf.serving.server", ["--models_dir", models, "--port", "0", *flags],
                        lambda line: int(line.rsplit(":", 1)[1].split()[0])
                        if " on 127.0.0.1:" in line else None)
    assert port, proc.stderr.read()
    return proc, port


def _rpc_code(fn, *args, **kwargs):
    import grpc
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value.code(), info.value.details()


# The growth of the server's peak memory that the refused requests below may cause (before the
# limits: over 5 GB for the first two, +1.56 GB for the third).
GROWTH_BOUND_MB = 250


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
@pytest.mark.slow
def test_4_amplifying_requests_are_refused_with_bounded_memory(video_gallery):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from hse_tf.export.preprocess import MAX_WORDS
    from hse_tf.serving.client import HSEClient
    proc, port = _server(video_gallery["models"], "--max_inflight_mb", "20")
    client = HSEClient(f"127.0.0.1:{port}", timeout=120)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(client.channel)
    try:
        paragraph = [["a red square moves right.", "it keeps going"]]
        want = client.embed_paragraphs(paragraph)["paragraph"]
        frames = np.zeros((4, 48, 64, 3), np.uint8)
        features = client.predict("hse_features", {"frames": frames})["features"]
        base = _peak_rss_mb(proc.pid)

        # hse_text: one sentence of 20,000 words among 64 x 256 short ones (~330 KB).
        sentences = np.full((64, 256), b"a red square", dtype=object)
        sentences[0, 0] = b" ".join([b"red"] * 20_000)
        code, details = _rpc_code(client.predict, "hse_text", {
            "sentences": sentences, "sentence_counts": np.full(64, 256, np.int64)})
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert f"more than {MAX_WORDS} words" in details
        # A request of many sentences whose padded size is too large, each short enough.
        long = b" ".join([b"red"] * 20)
        code, details = _rpc_code(client.predict, "hse_text", {
            "sentences": np.full((40, 256), long, dtype=object),
            "sentence_counts": np.full(40, 256, np.int64)})
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "longest sentence" in details

        # hse_features: 1,024 frames of 1x1 pixels (3 KB) and one frame of 1 x 4,000.
        code, details = _rpc_code(client.predict, "hse_features",
                                  {"frames": np.zeros((1024, 1, 1, 3), np.uint8)})
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "frames" in details
        code, details = _rpc_code(client.predict, "hse_features",
                                  {"frames": np.zeros((1, 1, 4000, 3), np.uint8)})
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "pixels" in details

        # --max_inflight_mb 20: six concurrent 40 MB requests are refused by gRPC before they
        # are held; a request over the whole budget is never "retry later".
        big = predict_pb2.PredictRequest()
        big.model_spec.name = "hse_video"
        big.inputs["features"].CopyFrom(tf.make_tensor_proto(
            np.zeros((1, 5000, 2048), np.float32)))
        codes = []

        def send():
            codes.append(_rpc_code(stub.Predict, big, timeout=120))
        threads = [threading.Thread(target=send) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [c for c, _ in codes] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 6, codes
        assert not any("retry" in d for _, d in codes)

        growth = _peak_rss_mb(proc.pid) - base
        assert growth < GROWTH_BOUND_MB, growth
        np.testing.assert_allclose(client.embed_paragraphs(paragraph)["paragraph"], want,
                                   atol=1e-6)
        np.testing.assert_allclose(client.predict("hse_features", {"frames": frames})[
            "features"], features, atol=1e-5)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)


def test_4_a_request_over_the_whole_budget_is_invalid_not_busy():
    from hse_tf.serving.limits import InflightBudget, LimitError, RequestLimits, \
        max_message_bytes
    with pytest.raises(LimitError) as e:
        InflightBudget(100).take(101)
    assert e.value.code_name == "INVALID_ARGUMENT" and "retry" not in str(e.value)
    assert max_message_bytes(RequestLimits(max_inflight_bytes=100 << 20)) == 100 << 20
    assert max_message_bytes(RequestLimits()) == 256 << 20


# -- 5: the page bounds request bodies ---------------------------------------------------------

def _start_app(args):
    return _serve("hse_tf.app", args, lambda line: int(
        line.split("http://", 1)[1].split("/")[0].rsplit(":", 1)[1]) if "http://" in line
        else None)


def _post_raw(port, headers, piece, seconds=60):
    """POST /login over a raw socket: sends `headers`, then piece(0), piece(1), ... (None ends)
    until the server answers; returns its status. Bounded in time whatever the server does."""
    import select
    sock = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    deadline = time.time() + seconds
    try:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
        i, answer = 0, b""
        while time.time() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answer = sock.recv(4096)
                break
            data = piece(i)
            i += 1
            if data is None:
                readable, _, _ = select.select([sock], [], [], max(0, deadline - time.time()))
                answer = sock.recv(4096) if readable else b""
                break
            try:
                sock.sendall(data)
            except OSError:  # the server answered and closed
                answer = sock.recv(4096)
                break
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
        return int(answer.split()[1])
    finally:
        sock.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
@pytest.mark.slow
def test_5_login_bodies_are_bounded_before_reading(video_gallery, tmp_path):
    pytest.importorskip("fastapi")
    import http.client
    token = tmp_path / "token.txt"
    token.write_text("s3cret\n")
    proc, port = _start_app(["--index", video_gallery["index"], "--port", "0",
                             "--auth_token_file", str(token)])
    try:
        assert port, proc.stderr.read()
        base = _peak_rss_mb(proc.pid)
        # Declared: 300 MB; the answer must come before the body is read.
        assert _post_raw(port, [b"Content-Length: " + str(300 << 20).encode()],
                         lambda i: b"token=" + b"x" * (1 << 20) if i < 300 else None) == 413
        # Chunked, no length: up to 64 MB offered; reading must stop past the limit.
        chunk = b"x" * (1 << 20)
        assert _post_raw(port, [b"Transfer-Encoding: chunked"],
                         lambda i: b"%x\r\n%s\r\n" % (len(chunk), chunk) if i < 64 else
                         b"0\r\n\r\n" if i == 64 else None) == 413
        assert _peak_rss_mb(proc.pid) - base < 50
        # The right token still signs in.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/login", body="token=s3cret",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        assert response.status == 303 and "hse_tf_token" in response.getheader("set-cookie")
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- 6: results files replace only results files -----------------------------------------------

def test_6_results_files_never_replace_other_files(trained_run, tiny_demo, tmp_path):
    run = _copy_run(trained_run, tmp_path)
    config = os.path.join(run, "run_config.json")
    before = _sha(config)
    _one_line_error(_run("hse_tf.evaluate", "--checkpoint", run, "--out", config,
                         "--incomplete_max_k", "0", "--proposals", ""),
                    "run_config.json", "refusing to replace")
    assert _sha(config) == before
    labels = tiny_demo.get("labels_val")
    user = tmp_path / "notes.json"
    user.write_text('{"mine": 1}')
    if labels:
        _one_line_error(_run("hse_tf.zeroshot", "--checkpoint", run, "--labels", labels,
                             "--features", tiny_demo["features"], "--out", user),
                        "notes.json", "refusing to replace")
        assert json.loads(user.read_text()) == {"mine": 1}
    # Our own results file is replaced (a rerun), and says what it is.
    out = tmp_path / "eval.json"
    for _ in range(2):
        done = _run("hse_tf.evaluate", "--checkpoint", run, "--out", out,
                    "--incomplete_max_k", "0", "--proposals", "")
        assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text())["output"] == "evaluation"


def test_6_claim_file_rules(tmp_path):
    from hse_tf.data.outputs import CAPTION_SCORES, EVALUATION, ZERO_SHOT, claim_file, \
        write_json
    claim_file(tmp_path / "new.json", EVALUATION)
    write_json(tmp_path / "e.json", EVALUATION, {"videos": 3})
    claim_file(tmp_path / "e.json", EVALUATION)
    for kind in (ZERO_SHOT, CAPTION_SCORES):
        with pytest.raises(OutputError, match="refusing to replace"):
            claim_file(tmp_path / "e.json", kind)
    # Written before the marker: recognised by its keys.
    (tmp_path / "old.json").write_text(json.dumps({"scores": {}, "captions": {}}))
    claim_file(tmp_path / "old.json", CAPTION_SCORES)
    for text in ("not json", "[1, 2]", '{"model": "hse"}'):
        (tmp_path / "x.json").write_text(text)
        with pytest.raises(OutputError, match="x.json: exists and is not"):
            claim_file(tmp_path / "x.json", EVALUATION)
    os.makedirs(tmp_path / "d.json")
    with pytest.raises(OutputError):
        claim_file(tmp_path / "d.json", EVALUATION)


# -- 7 and 9: index folders are checked at every depth, and kinds never replace each other ------

@pytest.fixture(scope="module")
def built(exported, tiny_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("trust_index") / "idx"
    text = tmp_path_factory.mktemp("trust_text") / "text"
    assert _index_cli("build", "--model", exported["out"], "--features", tiny_demo["features"],
                      "--annotations", tiny_demo["val_1"], "--quiet", "--out", out) == 0
    assert _index_cli("build-text", "--model", exported["out"], "--annotations",
                      tiny_demo["val_1"], "--quiet", "--out", text) == 0
    return {"index": str(out), "text": str(text),
            "base": ["build", "--model", exported["out"], "--features", tiny_demo["features"],
                     "--annotations", tiny_demo["val_1"], "--quiet"]}


def test_7_overwrite_keeps_user_files_inside_an_index(built, tmp_path, capsys):
    for where in ("clips/holiday.mp4", "thumbnails/notes.txt", "thumbnails/abc/video.jpg"):
        idx = tmp_path / where.replace("/", "_")
        shutil.copytree(built["index"], idx)
        user = idx / where
        user.parent.mkdir(parents=True, exist_ok=True)
        user.write_bytes(b"precious")
        assert _index_cli(*built["base"], "--out", idx, "--overwrite") == 2
        assert "refusing to replace" in capsys.readouterr().err
        assert user.read_bytes() == b"precious"


def test_7_a_file_named_index_json_is_not_an_index(built, tmp_path, capsys):
    web = tmp_path / "web"
    (web / "clips").mkdir(parents=True)
    (web / "index.json").write_text('{"title": "my site"}')
    (web / "clips" / "holiday.mp4").write_bytes(b"precious")
    assert _index_cli(*built["base"], "--out", web, "--overwrite") == 2
    assert "not an hse_tf index" in capsys.readouterr().err
    assert (web / "clips" / "holiday.mp4").read_bytes() == b"precious"


def test_9_kinds_never_replace_each_other(built, exported, tiny_demo, tmp_path, capsys):
    idx = tmp_path / "idx"
    shutil.copytree(built["index"], idx)
    clips = _tree_hashes(idx / "clips")
    assert _index_cli("build-text", "--model", exported["out"], "--annotations",
                      tiny_demo["val_1"], "--quiet", "--out", idx / "clips", "--overwrite") == 2
    assert "an index of paragraphs never replaces it" in capsys.readouterr().err
    assert _tree_hashes(idx / "clips") == clips
    assert _index_cli(*built["base"], "--out", built["text"], "--overwrite") == 2
    assert "index of paragraphs" in capsys.readouterr().err
    # verify notices a clips/ folder that is not the clip index.
    shutil.rmtree(idx / "clips")
    shutil.copytree(built["text"], idx / "clips")
    assert _index_cli("verify", idx) == 2
    assert "not the clip index" in capsys.readouterr().err


# -- 8: one writer per output ------------------------------------------------------------------

def test_8_a_second_export_or_build_into_one_folder_is_refused(trained_run, built, tmp_path):
    from hse_tf.data.locks import LockedError, output_lock
    from hse_tf.export.exporter import LOCK
    from hse_tf.index.builder import lock_path
    models = tmp_path / "models"
    models.mkdir()
    with output_lock(models / LOCK, "a test export"):
        line = _one_line_error(_run("hse_tf.export", "--checkpoint", trained_run, "--out",
                                    models), "being written by another process")
        assert f"pid {os.getpid()}" in line
        with pytest.raises(LockedError):
            with output_lock(models / LOCK, "again"):
                pass
    assert os.listdir(models) == []  # nothing written, and the lock file is gone
    assert _run("hse_tf.export", "--checkpoint", trained_run, "--out", models).returncode == 0
    out = tmp_path / "idx"
    with output_lock(lock_path(str(out)), "a test build"):
        _one_line_error(_run("hse_tf.index", *built["base"], "--out", out),
                        "being written by another process")
    assert not out.exists()


def test_8_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    from hse_tf.data.locks import output_lock
    path = tmp_path / "x.lock"
    path.write_text("999999\n")  # a killed process's file: no flock on it
    with output_lock(path, "a test"):
        assert path.read_text().strip() == str(os.getpid())
    assert not path.exists()


# -- 10: corrupt files are one line --------------------------------------------------------------

def test_10_corrupt_saved_model_is_one_line(built, exported, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(exported["out"], models)
    variables = models / "hse_text" / "1" / "variables"
    data = next(p for p in variables.iterdir() if p.name.startswith("variables.data"))
    data.write_bytes(data.read_bytes()[:64])
    _one_line_error(_run("hse_tf.index", "search", built["index"], "a man holds a rope",
                         "--model", models), "hse_text", "cannot load the SavedModel")


def test_10_a_truncated_vocabulary_is_refused(trained_run, tmp_path):
    from hse_tf.training.runs import load_run
    run = _copy_run(trained_run, tmp_path)
    vocab = os.path.join(run, "vocab.txt")
    lines = open(vocab, encoding="utf-8").read().splitlines()
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=f"vocab.txt: {len(lines) - 1} words, but the run's "
                                         f"model was trained with {len(lines)}"):
        load_run(run)


def test_10_checksums_cannot_be_removed(built, tmp_path):
    from hse_tf.index.gallery_index import GalleryIndex, IndexFileError
    idx = tmp_path / "idx"
    shutil.copytree(built["index"], idx)
    meta = json.loads((idx / "index.json").read_text())
    assert meta["format"] == 2
    for checksums in (None, {}, {"ids.json": meta["checksums"]["ids.json"]}):
        (idx / "index.json").write_text(json.dumps({**{k: v for k, v in meta.items()
                                                       if k != "checksums"},
                                                    **({} if checksums is None else
                                                       {"checksums": checksums})}))
        with pytest.raises(IndexFileError, match="checksum list"):
            GalleryIndex.load(str(idx))
    # An index from before the format field (and before checksums) still loads.
    old = {k: v for k, v in meta.items() if k not in ("checksums", "format")}
    (idx / "index.json").write_text(json.dumps(old))
    assert len(GalleryIndex.load(str(idx))) == meta["count"]


def test_10_verify_checks_media_and_thumbnails(video_gallery, tmp_path, capsys):
    idx = tmp_path / "idx"
    shutil.copytree(video_gallery["index"], idx)
    assert _index_cli("verify", idx) == 0
    capsys.readouterr()
    media = json.loads((idx / "media.json").read_text())
    vid = sorted(media)[0]
    for bad, says in (({**media, vid: 42}, "must be a file path"),
                      ({**media, "v_not_indexed": media[vid]}, "not in the index"),
                      ({**media, vid: str(tmp_path / "gone.webm")}, "no such file")):
        (idx / "media.json").write_text(json.dumps(bad))
        assert _index_cli("verify", idx) == 2
        assert says in capsys.readouterr().err
    (idx / "media.json").write_text(json.dumps(media))
    thumbs = idx / "thumbnails"
    first = sorted(thumbs.iterdir())[0] / "video.jpg"
    first.write_bytes(b"<html>not a jpeg</html>")
    assert _index_cli("verify", idx) == 2
    assert "not a JPEG" in capsys.readouterr().err


# -- 11: an export preprocesses as its run did --------------------------------------------------

def test_11_export_uses_the_runs_preprocessing(tiny_demo, tmp_path):
    import tensorflow as tf

    from hse_tf.evaluation import embed_split
    from hse_tf.export.requests import video_request
    from hse_tf.training import train
    from hse_tf.training.runs import load_run, make_split
    # Each video's segments and sentences in reverse time order: kept so with sort_by_time off.
    reversed_val = str(tmp_path / "val_reversed.json")
    data = json.load(open(tiny_demo["val_1"]))
    with open(reversed_val, "w") as f:
        json.dump({v: {**a, "timestamps": a["timestamps"][::-1],
                       "sentences": a["sentences"][::-1]} for v, a in data.items()}, f)
    run = str(tmp_path / "run")
    train(tiny_config({**tiny_demo, "val_1": reversed_val}, run, epochs=1, max_frames=3,
                      sort_by_time=False), run, verbose=0, projector_max=0)
    models = str(tmp_path / "models")
    done = _run("hse_tf.export", "--checkpoint", run, "--out", models, "--max_clips", "16")
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.load(open(os.path.join(models, "hse_video", "1", "assets.extra",
                                       "hse_export.json")))
    assert meta["preprocessing"] == {"max_frames": 3, "sort_by_time": False}
    cfg, vocab, model, _ = load_run(run)
    split = make_split(cfg, "val", vocab)
    assert sum(a.segments != sorted(a.segments) for a in split.annotations) >= 8
    want = embed_split(model, split, batch_size=8)
    module = tf.saved_model.load(os.path.join(models, "hse_video", "1"))
    feats = [split.features(i) for i in range(len(split))]
    times = [a.segments for a in split.annotations]
    request = video_request(feats, times, [a.duration for a in split.annotations])
    out = module.signatures["serving_default"](**{k: tf.constant(v) for k, v in request.items()})
    np.testing.assert_allclose(out["video"].numpy(), want["video"], atol=1e-4)
    served_clips = np.concatenate([out["clips"][i, :len(t)].numpy()
                                   for i, t in enumerate(times)])
    np.testing.assert_allclose(served_clips, want["clips"], atol=1e-4)


# -- 12: the smaller ones ------------------------------------------------------------------------

@pytest.mark.parametrize("params, flag", [
    ({"nprobe": 0}, "--nprobe"), ({"nlist": 0}, "--nlist"), ({"nlist": -5}, "--nlist"),
    ({"nlist": 100_000}, "--nlist"), ({"nprobe": 50, "nlist": 10}, "--nprobe")])
def test_12_faiss_parameters_are_bounded(params, flag):
    from hse_tf.index.gallery_index import GalleryIndex
    x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=flag):
        GalleryIndex([str(i) for i in range(500)], x, kind="ivf", params=params)


@pytest.mark.parametrize("params, flag", [({"m": 0}, "--hnsw_m"), ({"m": 1}, "--hnsw_m"),
                                          ({"ef_search": -1}, "--ef_search")])
def test_12_hnsw_parameters_are_bounded(params, flag):
    from hse_tf.index.gallery_index import GalleryIndex
    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=flag):
        GalleryIndex([str(i) for i in range(50)], x, kind="hnsw", params=params)


@pytest.mark.parametrize("args, flag", [
    (["--kind", "hnsw", "--hnsw_m", "0"], "--hnsw_m"), (["--kind", "ivf", "--nprobe", "0"],
                                                        "--nprobe"),
    (["--kind", "hnsw", "--ef_search", "-1"], "--ef_search"),
    (["--kind", "ivf", "--nlist", "5000"], "--nlist")])
def test_12_index_build_faiss_flags_are_one_line(built, tmp_path, args, flag):
    _one_line_error(_run("hse_tf.index", *built["base"], "--out", tmp_path / "i", *args), flag)
    assert not (tmp_path / "i").exists()


def test_12_wrong_feature_dimension_names_file_and_size(built, exported, tmp_path):
    from hse_tf.data.features import write_features
    feats = str(tmp_path / "wrong.hdf5")
    write_features("c3d_hdf5", feats, {a.video_id: np.ones((5, 3), np.float32)
                                       for a in exported["anns"]})
    base = [a if a != built["base"][4] else feats for a in built["base"]]
    _one_line_error(_run("hse_tf.index", *base, "--out", tmp_path / "i"), "wrong.hdf5",
                    "dimension 3", f"{exported['model'].feature_dim}-d")


def test_12_build_text_without_videos_is_one_line(exported, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    _one_line_error(_run("hse_tf.index", "build-text", "--model", exported["out"],
                         "--annotations", empty, "--out", tmp_path / "t"), "empty.json")


def test_12_plain_integers_only():
    assert cli.parse_int("10") == 10
    for bad in ("1_0", " 7", "+5", "1e3", "٣", ""):
        with pytest.raises(ValueError):
            cli.parse_int(bad)
    import argparse
    with pytest.raises(argparse.ArgumentTypeError):
        cli.positive_int("1_0")


def test_12_the_page_refuses_k_with_underscores(video_gallery):
    from hse_tf.app.gallery import BadParameter, Gallery
    gallery = Gallery(video_gallery["index"], video_gallery["encoders"])
    with pytest.raises(BadParameter, match="k: not an integer"):
        gallery.parse("a red square", "1_0", "video")
    assert gallery.parse("a red square", "10", "video")[1] == 10


def test_12_app_start_up_errors_are_one_line(video_gallery, tmp_path):
    pytest.importorskip("fastapi")
    index = video_gallery["index"]
    _one_line_error(_run("hse_tf.app", "--index", video_gallery["text"]), "text_index")
    _one_line_error(_run("hse_tf.app", "--index", index, "--host", "no.such.host.invalid",
                         "--port", "0"), "--host")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        busy = holder.getsockname()[1]
        _one_line_error(_run("hse_tf.app", "--index", index, "--port", busy), f":{busy}")
    finally:
        holder.close()
    _one_line_error(_run("hse_tf.app", "--index", index, "--port", "1_0"), "--port")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    unreachable = free.getsockname()[1]
    free.close()
    _one_line_error(_run("hse_tf.app", "--index", index, "--port", "0", "--serving",
                         f"127.0.0.1:{unreachable}"), "--serving", "UNAVAILABLE")
    proc, port = _start_app(["--index", index, "--port", "0"])
    try:
        assert port and port != 0
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_12_grpc_unknown_dtype_is_invalid_argument(exported):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from hse_tf.serving.model_registry import ModelRegistry
    from hse_tf.serving.server import start_server
    server, port, _ = start_server(ModelRegistry.from_dir(exported["out"]))
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "hse_text"
        request.inputs["sentences"].dtype = 999
        request.inputs["sentences"].tensor_shape.dim.add(size=1)
        code, details = _rpc_code(prediction_service_pb2_grpc.PredictionServiceStub(
            channel).Predict, request, timeout=30)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "unknown dtype 999" in details
    finally:
        channel.close()
        server.stop(None)


def test_12_a_certificate_given_as_the_key_is_named(exported, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl not found")
    key, crt = tmp_path / "server.key", tmp_path / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    line = _one_line_error(_run("hse_tf.serving.server", "--models_dir", exported["out"],
                                "--port", "0", "--ssl_cert", crt, "--ssl_key", crt),
                           "--ssl_key", "server.crt")
    assert "in use" not in line


def test_12_output_folders_follow_the_umask(tmp_path):
    from hse_tf.data.atomic import atomic_dir, atomic_path
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "out") as tmp:
            open(os.path.join(tmp, "f"), "w").close()
        with atomic_path(tmp_path / "file") as tmp:
            open(tmp, "w").close()
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "out").st_mode & 0o777) == 0o755
    assert (os.stat(tmp_path / "file").st_mode & 0o777) == 0o644


def test_12_an_exported_model_is_readable_by_others(trained_run, tmp_path):
    old = os.umask(0o022)
    try:
        from hse_tf.export.exporter import export_encoders
        from hse_tf.training.runs import load_run
        _, vocab, model, _ = load_run(trained_run)
        paths = export_encoders(model, vocab, str(tmp_path / "m"))
    finally:
        os.umask(old)
    assert (os.stat(paths["hse_video"]).st_mode & 0o777) == 0o755


def test_12_a_binary_models_config_is_named(tmp_path):
    from hse_tf.serving.model_registry import ModelRegistry
    path = tmp_path / "models.config"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="models.config: not a TF Serving model config"):
        ModelRegistry.from_config(str(path))


def test_12_fingerprints_see_a_rewrite_in_the_middle(tmp_path):
    from hse_tf.data.fingerprint import input_fingerprint
    path = tmp_path / "features.bin"
    data = bytearray(os.urandom(12 << 20))
    path.write_bytes(bytes(data))
    stat = os.stat(path)
    before = input_fingerprint(str(path))
    data[6 << 20] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    assert input_fingerprint(str(path)) != before


def test_training_without_glove_learns_random_word_vectors(tiny_demo, tmp_path):
    """--word_vectors=random: no GloVe file; --word_dim words start from a seeded N(0, 0.1) and
    train with the model (issue 29, item 7)."""
    from hse_tf.training import train
    from hse_tf.training.runs import load_run
    run = str(tmp_path / "run")
    results = train(tiny_config(tiny_demo, run, word_vectors="random", word_dim=12, epochs=1),
                    run, verbose=0, projector_max=0)
    assert set(results) >= {"p2v", "v2p"}
    cfg, vocab, model, _ = load_run(run)
    assert cfg["word_dim"] == 12 and cfg["word_vectors"] == "random"
    weights = model.text_tower.embedding.embeddings.numpy()
    assert weights.shape == (len(vocab), 12)
    assert np.all(weights[0] == 0) and 0.05 < weights[2:].std() < 0.2  # padding row stays 0
