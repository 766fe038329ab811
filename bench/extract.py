"""How fast is feature extraction from video files, per backbone, and is its memory flat in the
video's length?

    python bench/extract.py [--backbones inception_v3,efficientnetv2_b0,convnext_tiny]
        [--lengths 30,300] [--fps 2] [--size 640x360] [--source_fps 25]

Writes synthetic H.264-free (MPEG-4 part 2) videos of each length (a moving shape, `--size`,
`--source_fps`), then, in a fresh process per (backbone, length), runs
`hse_tf.features.extractor.extract` (random weights: the same FLOPs as ImageNet weights, nothing
downloaded) to an hdf5 file and prints videos/s, sampled frames/s, and the child's peak memory
(VmHWM from /proc). Each child first extracts a 2 s video so that graph tracing is not timed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from memory import proc_mb  # noqa: E402


def child(backbone, path, warm, fps, out_dir):
    from hse_tf.features.extractor import extract
    from hse_tf.features.frame_feature_extractor import FrameFeatureExtractor
    extractor = FrameFeatureExtractor(backbone, None, 0)
    extract({"warm": warm}, os.path.join(out_dir, "warm.hdf5"), backbone=backbone, fps=fps,
            weights="none", progress=False, extractor=extractor)
    rss0 = proc_mb("VmRSS")
    t0 = time.perf_counter()
    stats = extract({"video": path}, os.path.join(out_dir, "feats.hdf5"), backbone=backbone,
                    fps=fps, weights="none", progress=False, extractor=extractor)
    dt = time.perf_counter() - t0
    print(json.dumps({"frames": stats["frames"], "seconds": dt, "peak_mb": proc_mb("VmHWM"),
                      "rss_before_mb": rss0}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backbones", default="inception_v3,efficientnetv2_b0,convnext_tiny")
    p.add_argument("--lengths", default="30,300", help="video lengths in seconds")
    p.add_argument("--fps", type=float, default=2.0, help="sampling rate of the extraction")
    p.add_argument("--size", default="640x360")
    p.add_argument("--source_fps", type=int, default=25)
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        backbone, path, warm, fps, out_dir = args.child
        return child(backbone, path, warm, float(fps), out_dir)
    from hse_tf.features.synthetic import write_video
    width, height = (int(x) for x in args.size.split("x"))
    tmp = tempfile.mkdtemp(prefix="hse_bench_extract_")
    warm = write_video(os.path.join(tmp, "warm.mp4"), 2.0, args.source_fps, width, height)
    lengths = [int(x) for x in args.lengths.split(",")]
    videos = {}
    for s in lengths:
        t0 = time.perf_counter()
        videos[s] = write_video(os.path.join(tmp, f"v{s}.mp4"), float(s), args.source_fps, width,
                                height)
        print(f"wrote a {s} s {width}x{height} {args.source_fps} fps video in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    import tensorflow as tf
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; sampling {args.fps} fps from {width}x{height} "
          f"{args.source_fps} fps MPEG-4 video; random weights")
    print(f"{'backbone':<20}{'video':>8}{'frames':>8}{'seconds':>9}{'videos/s':>10}"
          f"{'frames/s':>10}{'peak MB':>9}")
    for backbone in args.backbones.split(","):
        for s in lengths:
            out_dir = tempfile.mkdtemp(dir=tmp)
            done = subprocess.run([sys.executable, __file__, "--child", backbone, videos[s], warm,
                                   str(args.fps), out_dir], capture_output=True, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            if done.returncode:
                sys.exit(done.stderr[-3000:])
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{backbone:<20}{s:>7}s{r['frames']:>8}{r['seconds']:>9.1f}"
                  f"{1 / r['seconds']:>10.3f}{r['frames'] / r['seconds']:>10.1f}"
                  f"{r['peak_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
