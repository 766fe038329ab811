"""The search page's JSON API through its real HTTP server: latency, requests/s, and where the
time goes.

    python bench/web_search.py [--sizes 100000,1000000] [--hidden 1024] [--requests 200]
                               [--clients 1,8]

For each gallery size: synthetic clustered video embeddings (bench/search.py's generator) at
--hidden dimensions, written as an index ('auto' kind: IVF-PQ with exact re-ranking beyond
50,000 rows) that records an export of an untrained, seeded HSE text tower of the same size
(the paper's 1024 by default; vocabulary from ActivityNet Captions val_1 when ../shared/data
has it, else the bench's sentences). `python -m hse_tf.app` serves it in a subprocess on
loopback (as a user starts it); this process sends one-sentence queries (ActivityNet
captions) from 1 and 8 concurrent clients over keep-alive HTTP connections, --requests each.
The split comes from the app's Server-Timing header: the text encoder (embed), the index
(index), building the records (records); HTTP = client latency - the three.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from search import clustered  # noqa: E402
from serving_latency import SENTENCES  # noqa: E402

VAL = os.path.join(ROOT, "..", "shared", "data", "activitynet_captions", "val_1.json")


def captions():
    if os.path.exists(VAL):
        with open(VAL) as f:
            data = json.load(f)
        return [s.strip() for v in data.values() for s in v["sentences"] if s.strip()]
    return SENTENCES


def make_gallery(folder, n, hidden, sentences):
    import keras

    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import model_from_config
    from hse_tf.export import export_encoders
    from hse_tf.export.layout import export_record
    from hse_tf.index import GalleryIndex
    keras.utils.set_random_seed(0)
    vocab = Vocabulary.build(sentences)
    model = model_from_config({"model": "hse", "hidden": hidden}, 500, len(vocab), 300)
    models = os.path.join(folder, "models")
    paths = export_encoders(model, vocab, models)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(10, n // 100), hidden)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    meta = {"models_dir": models, "model": paths["hse_video"], "content": "videos",
            "models": {name: export_record(p) for name, p in paths.items()}}
    index = os.path.join(folder, f"index-{n}")
    GalleryIndex([f"v{i:07d}" for i in range(n)], clustered(n, hidden, rng, centres),
                 metadata=meta).save(index)
    return index


def start_app(index, cpu_threads="auto"):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hse_tf.app", "--index", index, "--port",
                             str(port), "--cpu_threads", cpu_threads], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read())
            time.sleep(0.5)
    raise RuntimeError("the app did not start")


def client_run(port, queries, k=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for q in queries:
        path = "/api/search?" + urllib.parse.urlencode({"q": q, "k": k})
        t = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t
        timing = {}
        for part in response.getheader("Server-Timing", "").split(","):
            if ";dur=" in part:
                name, dur = part.strip().split(";dur=")
                timing[name] = float(dur) / 1000
        ok = response.status == 200 and bool(json.loads(body)["results"])
        out.append((elapsed, timing, ok))
    conn.close()
    return out


def measure(port, pool, clients, requests):
    client_run(port, pool[:5])  # warm-up: tracing, connection
    rng = np.random.default_rng(clients)
    batches = [[pool[i] for i in rng.integers(0, len(pool), requests)] for _ in range(clients)]
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        runs = list(ex.map(lambda b: client_run(port, b), batches))
    wall = time.perf_counter() - t
    rows = [r for run in runs for r in run]
    lat = np.array([r[0] for r in rows])
    parts = {name: np.array([r[1].get(name, 0.0) for r in rows])
             for name in ("embed", "index", "records")}
    http_s = lat - sum(parts.values())
    return {"p50": 1000 * np.percentile(lat, 50), "p99": 1000 * np.percentile(lat, 99),
            "rps": len(rows) / wall, "errors": sum(not r[2] for r in rows),
            **{name: 1000 * np.median(v) for name, v in parts.items()},
            "http": 1000 * np.median(http_s), "embed99": 1000 * np.percentile(parts["embed"], 99),
            "http99": 1000 * np.percentile(http_s, 99)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", default="1,8")
    p.add_argument("--cpu_threads", default="auto", help="the app's --cpu_threads")
    args = p.parse_args()
    pool = [s for s in captions() if len(s.split()) <= 40]
    print(f"{len(pool):,} one-sentence queries; hidden {args.hidden}; {os.cpu_count()} CPU "
          f"cores", flush=True)
    lines = ["| videos | clients | p50 ms | p99 ms | req/s | errors | embed ms (p99) | index ms |"
             " records ms | HTTP ms (p99) |", "|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="hse_bench_web_") as folder:
        for n in (int(x) for x in args.sizes.split(",")):
            t = time.perf_counter()
            index = make_gallery(folder, n, args.hidden, pool)
            print(f"gallery of {n:,} built in {time.perf_counter() - t:.0f} s", flush=True)
            proc, port = start_app(index, args.cpu_threads)
            try:
                for clients in (int(c) for c in args.clients.split(",")):
                    r = measure(port, pool, clients, args.requests)
                    lines.append(f"| {n:,} | {clients} | {r['p50']:.1f} | {r['p99']:.1f} | "
                                 f"{r['rps']:.1f} | {r['errors']} | {r['embed']:.1f} "
                                 f"({r['embed99']:.1f}) | {r['index']:.1f} | "
                                 f"{r['records']:.2f} | {r['http']:.1f} ({r['http99']:.1f}) |")
                    print(lines[-1], flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            import shutil
            shutil.rmtree(index, ignore_errors=True)
    print("\n" + "\n".join(lines))
    print("\nembed/index/records: medians (p99) from the app's Server-Timing header; HTTP: "
          "client latency minus the three.")


if __name__ == "__main__":
    main()
