"""Small synthetic videos written with PyAV: a coloured shape moving over a plain background.

For tests, the extraction benchmark and trying the commands without a video collection. The
shape's centre at time t is `position(t)`, so a test can check which instant a sampled frame
shows.
"""

import fractions

import numpy as np

from hse_tf.data.atomic import atomic_path

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 230),
           "yellow": (230, 220, 40), "white": (240, 240, 240), "purple": (150, 40, 190)}


def position(t, seconds, width, height, direction="right"):
    """Centre (x, y) in pixels of the shape at time t (it crosses the frame once)."""
    u = min(max(t / seconds, 0.0), 1.0)
    margin = 0.15
    a = margin + (1 - 2 * margin) * u
    return {"right": (a * width, height / 2), "left": ((1 - a) * width, height / 2),
            "down": (width / 2, a * height), "up": (width / 2, (1 - a) * height)}[direction]


def render(t, seconds, width=160, height=120, colour="red", shape="square", direction="right",
           background=(20, 20, 20)):
    """One uint8 [height, width, 3] frame at time t."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = background
    cx, cy = position(t, seconds, width, height, direction)
    r = max(4, min(width, height) // 6)
    yy, xx = np.mgrid[0:height, 0:width]
    if shape == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    else:
        mask = (abs(xx - cx) <= r) & (abs(yy - cy) <= r)
    img[mask] = COLOURS.get(colour, colour)
    return img


def write_video(path, seconds=3.0, fps=10, width=160, height=120, colour="red", shape="square",
                direction="right", times=None, codec="mpeg4", audio=False,
                background=(20, 20, 20)):
    """Writes a synthetic video (atomically) and returns its path.

    `times`: explicit presentation times in seconds (a variable frame rate); default: a constant
    `fps` over `seconds`. `audio`: also write a silent audio stream. `background`: an RGB
    triple, or 'tinted' (the shape's colour at half brightness: whole-frame colour, which even a
    randomly initialised backbone tells apart)."""
    if background == "tinted":
        background = tuple(int(v) // 2 for v in COLOURS.get(colour, colour))
    import av
    if times is None:
        times = np.arange(int(round(seconds * fps))) / fps
    tb = fractions.Fraction(1, 1000)
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ".mp4"
    with atomic_path(path) as tmp:
        with av.open(tmp, "w", format=suffix[1:] if suffix != ".mkv" else "matroska") as out:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = tb
            stream.codec_context.time_base = tb
            sound = _audio_stream(out) if audio else None
            for t in times:
                frame = av.VideoFrame.from_ndarray(
                    render(t, seconds, width, height, colour, shape, direction, background),
                    format="rgb24")
                frame.pts = int(round(t * 1000))
                frame.time_base = tb
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if sound is not None:
                _silence(out, sound, seconds)
    return path


def write_audio_only(path, seconds=1.0):
    """A file with one audio stream and no video (bad input for extraction)."""
    import av
    with atomic_path(path) as tmp:
        with av.open(tmp, "w", format="mp4") as out:
            _silence(out, _audio_stream(out), seconds)
    return path


def _audio_stream(out, rate=16000):
    stream = out.add_stream("aac", rate=rate)
    stream.layout = "mono"
    return stream


def _silence(out, stream, seconds):
    import av
    rate = stream.rate
    n = int(seconds * rate)
    frame_size = 1024
    for i in range(0, n, frame_size):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, frame_size), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = rate
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
