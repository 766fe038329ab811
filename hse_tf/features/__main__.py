"""python -m hse_tf.features extract --videos DIR_OR_LIST --out feats.hdf5 [--backbone inception_v3]
    [--fps 2] [--layout hdf5|inception_npz] [--weights imagenet|none|PATH] [--batch_size 32]
    [--on_bad_input error|skip]
python -m hse_tf.features backbones        # the registry: name, input size, feature size

Video ids are the file names without extension. Rerunning the same command skips finished
videos; a changed setting is refused, and so is an --out that is not an extraction of ours. Then train on the result:

    python -m hse_tf.train ... --features feats.hdf5 --feature_layout hdf5
"""

import sys

from hse_tf import cli
from hse_tf.cli import positive_float, positive_int
from hse_tf.data.errors import BAD_INPUT_POLICIES


def _parser():
    p = cli.argument_parser("hse_tf.features",
                            description="Extract frame features from video files.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="video files -> frame features")
    e.add_argument("--videos", required=True,
                   help="a folder of video files, or a text file with one path per line")
    e.add_argument("--out", required=True, help="feature file (hdf5) or folder (inception_npz)")
    e.add_argument("--layout", default="hdf5", choices=["hdf5", "inception_npz"])
    e.add_argument("--backbone", default="inception_v3")
    e.add_argument("--fps", type=positive_float, default=2.0,
                   help="frames sampled per second of video, by timestamp")
    e.add_argument("--weights", default="imagenet",
                   help="'imagenet' (Keras downloads them on first use), a weights file, or "
                        "'none' (random, seeded by --seed: for tests and benchmarks only)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--batch_size", type=positive_int, default=32, help="frames per backbone call")
    e.add_argument("--on_bad_input", default="error", choices=BAD_INPUT_POLICIES,
                   help="a corrupt, empty, audio-only or unreadable file: stop with an error "
                        "naming it, or skip it and count it")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("backbones", help="list the backbones")
    return p


def main(argv=None):
    args = cli.parse(_parser(), argv)
    from hse_tf.features.backbones import BACKBONES
    if args.command == "backbones":
        print(f"{'name':<20}{'input':>8}{'dim':>7}  weights file (Keras cache)")
        for b in BACKBONES.values():
            print(f"{b.name:<20}{b.image_size:>8}{b.dim:>7}  {b.weights_file}")
        return 0
    from hse_tf.data.errors import IssueLog
    from hse_tf.features.backbones import get_backbone
    from hse_tf.features.extractor import extract
    get_backbone(args.backbone)  # an unknown name fails before anything is opened
    issues = IssueLog(args.on_bad_input)
    stats = extract(args.videos, args.out, args.layout, args.backbone, args.fps, args.weights,
                    args.seed, args.batch_size, issues, progress=not args.quiet)
    rate = stats["frames"] / stats["seconds"] if stats["seconds"] else 0.0
    print(f"{args.out}: {stats['extracted']} videos extracted ({stats['frames']} frames, "
          f"{rate:.1f} frames/s), {stats['skipped_done']} already done, {stats['bad']} bad")
    if issues.counts:
        print(f"input problems: {issues.summary()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    cli.run_absl(main, parsed_by_main=True)
