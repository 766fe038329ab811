"""Video files -> RGB frames sampled at a fixed rate by timestamp (PyAV, streaming).

Frames are chosen by presentation time, not by index: sample k is the frame on screen at
`start + k / fps`, where `start` is the first frame's time. Variable frame rates, odd durations
and streams that do not start at 0 therefore give the same sampling as a constant-rate copy of
the video. Decoding streams: at most two decoded frames are held, so memory does not grow with
the video's length.
"""

import os

import numpy as np

from hse_tf.data.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".flv",
                    ".wmv", ".3gp", ".ts")


def video_id(path):
    """A video's id: its file name without the extension (ActivityNet: v_XXXX.mp4 -> v_XXXX)."""
    return os.path.splitext(os.path.basename(path))[0]


def list_videos(source):
    """{video id: path} for a folder (video files by extension, sorted) or a text file with one
    path per line (relative paths are relative to the list file). Duplicate ids are refused."""
    source = os.fspath(source)
    if os.path.isdir(source):
        paths = [os.path.join(source, n) for n in sorted(os.listdir(source))
                 if n.lower().endswith(VIDEO_EXTENSIONS) and not n.startswith(".")]
    elif os.path.isfile(source):
        with open(source) as f:
            lines = [ln.strip() for ln in f]
        base = os.path.dirname(os.path.abspath(source))
        paths = [ln if os.path.isabs(ln) else os.path.join(base, ln)
                 for ln in lines if ln and not ln.startswith("#")]
    else:
        raise DataError("no such folder or list file", file=source, field="videos")
    out = {}
    for p in paths:
        vid = video_id(p)
        if vid in out:
            raise DataError(f"two files give the video id {vid!r}: {out[vid]} and {p}",
                            file=source, video=vid, field="videos")
        out[vid] = p
    if not out:
        raise DataError(f"no video files (extensions: {' '.join(VIDEO_EXTENSIONS)})",
                        file=source, field="videos")
    return out


def _bad(path, reason):
    return DataError(reason, file=path, video=video_id(path), field="video")


def sample_frames(path, fps):
    """Yields (time in seconds from the first frame, uint8 [H, W, 3] RGB) at `fps` samples per
    second of presentation time. Raises DataError naming the file for unreadable, empty or
    audio-only files."""
    import av
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not os.path.isfile(path):
        raise _bad(path, "no such file")
    if os.path.getsize(path) == 0:
        raise _bad(path, "empty file (0 bytes)")
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise _bad(path, f"cannot open as a video (corrupt or not a video?): {e}") from None
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise _bad(path, f"no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else None
        step = 1.0 / fps
        k, start, prev, prev_t, last_gap, emitted = 0, None, None, None, None, 0
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:  # no timestamps: fall back to the nominal rate
                    t = emitted / (rate or 25.0)
                if start is None:
                    start = t
                t -= start
                if prev is not None:
                    if t <= prev_t:  # a non-increasing timestamp: keep the earlier frame
                        continue
                    last_gap = t - prev_t
                    while k * step < t - 1e-9:  # sample k falls while `prev` is on screen
                        yield k * step, prev.to_ndarray(format="rgb24")
                        k += 1
                prev, prev_t = frame, t
                emitted += 1
        except av.FFmpegError as e:
            if prev is None:
                raise _bad(path, f"cannot decode (corrupt?): {e}") from None
            # A truncated tail: keep what decoded, as players do.
        if prev is None:
            raise _bad(path, "the video stream has no decodable frames")
        # The last frame stays on screen for one frame period.
        end = prev_t + (1.0 / rate if rate else (last_gap or step))
        while k == 0 or k * step < end - 1e-9:
            yield k * step, prev.to_ndarray(format="rgb24")
            k += 1


def frame_batches(path, fps, batch_size):
    """`sample_frames` grouped into uint8 [n <= batch_size, H, W, 3] arrays."""
    batch = []
    for _, frame in sample_frames(path, fps):
        if batch and frame.shape != batch[0].shape:  # the frame size changed mid-stream
            yield np.stack(batch)
            batch = []
        batch.append(frame)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
