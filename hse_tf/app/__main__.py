"""python -m hse_tf.app --index runs/my_index --models models [--text_index runs/my_text]
    [--port 8080] [--host 127.0.0.1] [--serving HOST:8500] [--auth_token_file FILE]

Serves the search page and its JSON API (GET /api/search, /api/videos/{id}, /api/similar,
/thumbs/{id}, /media/{id}, /healthz, /metrics, /openapi.json) over a built index. Queries are
embedded by the exported hse_text of the export that built the index, in this process, or with
--serving through TF Serving's gRPC endpoint (pinned to that version). Binds loopback unless
--host says otherwise. Needs `pip install 'hse_tf[app]'`.
"""

import argparse
import sys

from hse_tf import cli
from hse_tf.cli import positive_int


def _port(text):
    from hse_tf.cli import parse_int
    try:
        value = parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535, got {value}")
    return value


def _parser():
    p = cli.argument_parser("hse_tf.app",
                            description="Search page and JSON API over a built index.")
    p.add_argument("--index", required=True, help="video index folder (index build --out)")
    p.add_argument("--models", help="export folder (default: the one the index was built with)")
    p.add_argument("--text_index", help="paragraph index (index build-text): 'paragraphs like "
                   "this video'")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (loopback by default; another address prints a warning)")
    p.add_argument("--port", type=_port, default=8080, help="port (0: any free one)")
    p.add_argument("--serving", help="HOST:PORT of TF Serving (gRPC): embed queries there")
    p.add_argument("--serving_ssl_ca", help="with --serving: PEM CA to trust (TLS)")
    p.add_argument("--serving_token_file", help="with --serving: bearer token file")
    p.add_argument("--auth_token_file", help="every request needs 'Authorization: Bearer "
                   "<this file's token>' (a browser signs in once at /login)")
    p.add_argument("--on_unknown", default="refuse", choices=["refuse", "rank"],
                   help="a query with no known word: 400 (refuse), or rank by the UNK embedding")
    p.add_argument("--max_k", type=positive_int, default=100, help="largest k a request may ask")
    p.add_argument("--cpu_threads", default="auto", help="TensorFlow's CPU thread pools for the "
                   "in-process text model: auto (one thread per op, cores ops at once, as the "
                   "serving stand-in), default, or INTRA,INTER")
    return p


def build_app(args):
    """(app, gallery) from parsed arguments; errors name the file."""
    try:
        from hse_tf.app.api import create_app
    except ImportError as e:
        raise ImportError(f"the search page needs FastAPI, uvicorn and prometheus_client: pip "
                          f"install 'hse_tf[app]' ({e.name} is missing)") from None
    from hse_tf.app.gallery import Gallery, QueryLimits, RemoteText
    from hse_tf.index.encoders import Encoders
    from hse_tf.index.gallery_index import GalleryIndex
    from hse_tf.serving.server import read_secret
    from hse_tf.index.gallery_index import IndexFileError
    index = GalleryIndex.load(args.index)
    content = index.metadata.get("content", "videos")
    if content != "videos":
        raise IndexFileError(f"{args.index}: a {content} index; --index takes a video index "
                             f"(index build --out){' (give it as --text_index)' if content == 'paragraphs' else ''}")
    encoders = Encoders.for_index(index, args.models)
    if args.serving:
        text = RemoteText(args.serving, encoders.version,
                          read_secret(args.serving_token_file, "token").decode().strip()
                          if args.serving_token_file else None,
                          read_secret(args.serving_ssl_ca, "CA") if args.serving_ssl_ca else None)
        text.check()  # unreachable, or without the index's hse_text: refuse to start
    else:
        text = encoders
        encoders.text  # load now: a missing or mismatched model refuses to start
    gallery = Gallery(args.index, text, args.text_index, args.on_unknown,
                      QueryLimits(max_k=args.max_k))
    token = (read_secret(args.auth_token_file, "token").decode().strip()
             if args.auth_token_file else None)
    return create_app(gallery, token), gallery


def bind(host, port):
    """A listening socket on host:port (0: any free port), made before the page loads anything,
    so that a busy port or a bad address is one line naming them."""
    import socket
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError(f"--host {host!r}: not an address of this machine ({e})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e} (--host, "
                         f"--port; 0 picks a free port)") from None
    return sock


def main(argv=None):
    args = cli.parse(_parser(), argv, load_tensorflow=False)
    sock = bind(args.host, args.port)  # a bad or busy address answers before TensorFlow loads
    cli.quiet_tensorflow()
    if not args.serving:
        cli.configure_cpu_threads(args.cpu_threads)
    app, gallery = build_app(args)
    # The gallery's millions of ids never change: keep them out of the garbage collector's
    # full passes (which would otherwise walk them all, a latency spike every few requests).
    import gc
    gc.collect()
    gc.freeze()
    import uvicorn
    if not cli.is_loopback(args.host):
        print(f"warning: serving on {args.host}, reachable from other machines"
              f"{'' if args.auth_token_file else ', without a token'} and without TLS; "
              f"--host 127.0.0.1 keeps it local", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    s = gallery.summary()
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"search page for {args.index} ({s['videos']:,} videos, {s['clips']:,} clips): "
          f"http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    cli.run_absl(main, parsed_by_main=True)
