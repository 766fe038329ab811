"""Text-to-video search over a gallery of videos.

    python -m hse_tf.index build --model models/ --features FILE --out INDEX \
        [--layout c3d_hdf5|inception_npz|didemo_hdf5|hdf5] [--annotations ANN --format activitynet]
    python -m hse_tf.index build --model models/ --videos DIR_OR_LIST --out INDEX    # video files
    python -m hse_tf.index build ... --runner DataflowRunner --project P ...       # Apache Beam
    python -m hse_tf.index build-text --model models/ --annotations ANN --out TEXT_INDEX
    python -m hse_tf.index search INDEX "a man is surfing on a wave" -k 10 [--json]
    python -m hse_tf.index search INDEX/clips "a man falls into the water" -k 5    # moments
    python -m hse_tf.index search INDEX --video_id v_abc --text_index TEXT_INDEX   # video -> text
    python -m hse_tf.index verify INDEX        # every file's checksum, every row (in full)
    python -m hse_tf.index thumbnails INDEX --videos DIR   # thumbnails for a feature-built index

`build` embeds every video with the exported hse_video model; with --videos, each file is first
decoded at the model's fps and run through the exported hse_features backbone. Progress goes to
stderr and interrupted builds resume (with the same inputs, checked by fingerprint). An
existing --out must be an index, and is replaced only with --overwrite. It writes an exact index up to 50,000 videos and a faiss
IVF-PQ index with exact re-ranking beyond (--kind and the faiss parameters override). Clip
embeddings go to INDEX/clips.
"""

import json
import sys

from hse_tf import cli
from hse_tf.cli import positive_int
from hse_tf.data.errors import BAD_INPUT_POLICIES
from hse_tf.data.features import LAYOUTS
from hse_tf.index.gallery_index import KINDS


def _parser():
    p = cli.argument_parser("hse_tf.index",
                            description="Build and search HSE video/text indices.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="embed a feature file's videos (or video files) into an "
                       "index")
    b.add_argument("--model", required=True, help="export folder holding hse_video/<version>")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", help="feature file or folder (see --layout)")
    src.add_argument("--videos", help="a folder of video files, or a text file with one path "
                     "per line (needs hse_features in --model)")
    b.add_argument("--layout", default="c3d_hdf5",
                   choices=sorted(LAYOUTS))
    b.add_argument("--annotations", help="take clips from these annotations (else uniform)")
    _format_arg(b)
    b.add_argument("--uniform_clips", type=positive_int, default=4,
                   help="clips per video when there are no annotations (equal segments)")
    b.add_argument("--out", required=True)
    b.add_argument("--batch_size", type=positive_int, default=32)
    b.add_argument("--shard_size", type=positive_int, default=1024,
                   help="videos per resumable shard")
    b.add_argument("--max_shards", type=positive_int, help="stop after this many new shards (split a "
                   "long build across jobs; rerun to continue)")
    b.add_argument("--on_bad_input", default="error", choices=BAD_INPUT_POLICIES)
    b.add_argument("--no_thumbnails", action="store_true",
                   help="with --videos: do not write thumbnails (one JPEG per video and clip)")
    b.add_argument("--runner", default="local",
                   help="'local' (this process), or an Apache Beam runner: DirectRunner, "
                        "DataflowRunner, FlinkRunner, SparkRunner, ... (pip install "
                        "'hse_tf[beam]'); unknown options after the known ones go to Beam")
    _index_args(b)
    t = sub.add_parser("build-text", help="embed annotated paragraphs (for video -> text)")
    t.add_argument("--model", required=True)
    t.add_argument("--annotations", required=True)
    _format_arg(t)
    t.add_argument("--out", required=True)
    _index_args(t)
    s = sub.add_parser("search", help="query an index")
    s.add_argument("index")
    s.add_argument("query", nargs="?", help="text query (sentences end with . ! ?)")
    s.add_argument("-k", type=positive_int, default=10, help="results (at most the index's rows)")
    s.add_argument("--model", help="export folder (default: the one the index was built with)")
    s.add_argument("--video_id", help="video -> nearest paragraphs (needs --text_index)")
    s.add_argument("--text_index")
    s.add_argument("--on_unknown", default="rank", choices=["rank", "refuse"],
                   help="a query with no known words: rank by the UNK embedding, or refuse")
    s.add_argument("--json", action="store_true", help="print JSON")
    v = sub.add_parser("verify", help="check an index in full: every file's checksum, every "
                       "row finite and unit length")
    v.add_argument("index")
    th = sub.add_parser("thumbnails", help="add thumbnails (and playable media) to an index "
                        "built from features of these video files")
    th.add_argument("index")
    th.add_argument("--videos", required=True,
                    help="a folder of video files, or a text file with one path per line; file "
                         "names (without extension) are the index's video ids")
    th.add_argument("--on_bad_input", default="error", choices=BAD_INPUT_POLICIES)
    th.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _format_arg(p):
    from hse_tf.data.annotations import READERS
    p.add_argument("--format", default="activitynet", choices=sorted(READERS),
                   help="annotation format")


def _index_args(p):
    p.add_argument("--kind", default="auto", choices=KINDS,
                   help="auto: exact up to 50,000 rows, ivfpq (product-quantised shortlist + "
                        "exact re-rank) beyond")
    p.add_argument("--nlist", type=positive_int, help="IVF lists")
    p.add_argument("--nprobe", type=positive_int, help="IVF lists searched per query")
    p.add_argument("--pq_m", type=positive_int, help="ivfpq: bytes per code (sub-quantisers)")
    p.add_argument("--rerank", type=positive_int, help="ivfpq: shortlist scored exactly per query")
    p.add_argument("--hnsw_m", type=positive_int, help="HNSW neighbours per node")
    p.add_argument("--ef_construction", type=positive_int)
    p.add_argument("--ef_search", type=positive_int)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing index at --out (only an index folder), and start "
                        "afresh an interrupted build whose inputs changed")


def _params(args):
    names = {"nlist": "nlist", "nprobe": "nprobe", "pq_m": "pq_m", "rerank": "rerank",
             "hnsw_m": "m",
             "ef_construction": "ef_construction", "ef_search": "ef_search"}
    return {v: getattr(args, k) for k, v in names.items() if getattr(args, k) is not None}


def _annotations(path, fmt, issues, model_meta):
    """The annotations, with their (segment, sentence) pairs ordered as the exported model's
    run had them (its metadata's preprocessing; exports from before it: time order)."""
    from hse_tf.data.annotations import READERS
    from hse_tf.data.preprocessing import Preprocessing
    recorded = model_meta.get("preprocessing") or {}
    return READERS[fmt](path, issues=issues,
                        sort_by_time=Preprocessing(**recorded).sort_by_time)


def main(argv=None):
    args, beam_args = cli.parse(_parser(), argv, known=True)
    if beam_args and not (args.command == "build" and args.runner != "local"):
        _parser().error(f"unrecognized arguments: {' '.join(beam_args)}")
    from hse_tf.data.errors import IssueLog
    from hse_tf.index.gallery_index import GalleryIndex
    from hse_tf.index.search import QueryError, as_table, text_query, video_query
    if args.command == "build":
        from hse_tf.data.features import open_features
        from hse_tf.index.builder import build_video_index
        from hse_tf.index.encoders import Encoders
        issues = IssueLog(args.on_bad_input)
        encoders = Encoders(args.model)
        anns = _annotations(args.annotations, args.format, issues, encoders.video[1]) if (
            args.annotations) else None
        if args.videos:
            from hse_tf.features.video_file_store import VideoFileStore
            store = VideoFileStore(args.videos, encoders.features[1]["fps"],
                                   encoders.embed_frames)
        else:  # features of the model's dimension, or one line naming file, video and sizes
            store = open_features(args.layout, args.features,
                                  encoders.video[1].get("feature_dim"))
        index = build_video_index(
            encoders, store, args.out, anns, issues, uniform_clips=args.uniform_clips,
            batch_size=args.batch_size, shard_size=args.shard_size, kind=args.kind,
            params=_params(args), max_shards=args.max_shards, progress=not args.quiet,
            runner=args.runner, pipeline_args=tuple(beam_args), overwrite=args.overwrite,
            thumbnails=not args.no_thumbnails)
        if index is None:
            print(f"stopped after {args.max_shards} shard(s); rerun to continue")
        else:
            print(f"{args.out}: {len(index):,} videos, {index.dim}-d, {index.kind} "
                  f"{index.params or ''}")
        if issues.counts:
            print(f"input problems: {issues.summary()}", file=sys.stderr)
        return 0
    if args.command == "build-text":
        from hse_tf.index.builder import build_text_index
        from hse_tf.index.encoders import Encoders
        encoders = Encoders(args.model)
        anns = _annotations(args.annotations, args.format, IssueLog("error"), encoders.text[1])
        if not anns:
            raise ValueError(f"{args.annotations}: no annotated videos to index")
        index = build_text_index(encoders, anns, args.out, kind=args.kind,
                                 params=_params(args), progress=not args.quiet,
                                 overwrite=args.overwrite)
        print(f"{args.out}: {len(index):,} paragraphs, {index.dim}-d, {index.kind}")
        return 0
    if args.command == "thumbnails":
        from hse_tf.features.decoding import list_videos
        from hse_tf.index.thumbnails import add_thumbnails
        issues = IssueLog(args.on_bad_input)
        n = add_thumbnails(args.index, list_videos(args.videos), not args.quiet, issues)
        print(f"{args.index}: thumbnails of {n} videos written")
        if issues.counts:
            print(f"input problems: {issues.summary()}", file=sys.stderr)
        return 0
    if args.command == "verify":
        from hse_tf.index.verify import verify_folder
        for r in verify_folder(args.index):
            print(f"{r['path']}: ok ({r['rows']:,} rows x {r['dim']}, {r['kind']}; sha256 of "
                  f"{', '.join(r['checksummed']) or 'no files (built before checksums)'})")
        return 0
    index = GalleryIndex.load(args.index)
    warnings = []
    if args.video_id:
        if not args.text_index:
            raise QueryError("--video_id needs --text_index (build one with build-text)")
        results = video_query(index, args.video_id, GalleryIndex.load(args.text_index),
                              args.k)
    else:
        if not args.query:
            raise QueryError("give a text query, or --video_id with --text_index")
        from hse_tf.index.encoders import Encoders
        results, warnings = text_query(index, Encoders.for_index(index, args.model), args.query,
                                       args.k, args.on_unknown)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        json.dump({"results": results, "warnings": warnings}, sys.stdout)
        print()
    else:
        print(as_table(results))
    return 0


if __name__ == "__main__":
    cli.run_absl(main, parsed_by_main=True)
