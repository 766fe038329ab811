"""Thumbnails and media of a gallery built from video files, kept in the index folder.

    INDEX/media.json                       {video id: video file}: what the search page may play
    INDEX/thumbnails/<key>/video.jpg       the frame at the middle of the video's clips
    INDEX/thumbnails/<key>/clip-NNNN.jpg   the frame at the middle of clip NNNN (seconds)

<key> is a hash of the video id, so an id never becomes a path. JPEGs have a short side of
about 180 px (never upscaled). Each video's folder is written atomically and skipped when it is
there, so an interrupted run resumes. `index build --videos` writes them with the index;
`python -m hse_tf.index thumbnails INDEX --videos DIR` adds them to an index built from
features of the same videos.
"""

import hashlib
import json
import os
import re

from hse_tf.data.atomic import atomic_dir, atomic_path, read_json_object

THUMBNAILS = "thumbnails"
MEDIA = "media.json"
SHORT_SIDE = 180
SAMPLE_FPS = 8.0  # frames decoded per second to pick the ones nearest the wanted times
# The layout thumb_file writes: thumbnails/<THUMB_DIR>/<THUMB_FILE>
THUMB_DIR = re.compile(r"[0-9a-f]{20}")  # thumb_key of a video id
THUMB_FILE = re.compile(r"video\.jpg|clip-\d{4,}\.jpg")


def thumb_key(video_id):
    """The folder name of a video's thumbnails (it matches THUMB_DIR)."""
    return hashlib.sha1(str(video_id).encode("utf-8", "surrogateescape")).hexdigest()[:20]


def thumb_file(index_dir, video_id, clip=None):
    """The JPEG of a video (clip None) or of its clip number `clip` (it may not exist)."""
    name = "video.jpg" if clip is None else f"clip-{int(clip):04d}.jpg"
    return os.path.join(index_dir, THUMBNAILS, thumb_key(video_id), name)


def _jpeg(frame, path):
    from PIL import Image
    image = Image.fromarray(frame)
    scale = SHORT_SIDE / min(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.BILINEAR)
    image.save(path, "JPEG", quality=85)


def frames_at(path, times):
    """{time: uint8 [H, W, 3]} of the frames on screen at `times` (seconds), decoded once."""
    from hse_tf.features.decoding import sample_frames
    wanted = {t: int(round(t * SAMPLE_FPS)) for t in times}
    out, last = {}, max(wanted.values(), default=-1)
    frame = None
    for k, (_, frame) in enumerate(sample_frames(path, SAMPLE_FPS)):
        for t, w in wanted.items():
            if w == k:
                out[t] = frame
        if k >= last:
            break
    for t in wanted:  # times past the end: the last frame
        out.setdefault(t, frame)
    return out


def write_video_thumbnails(folder, video_id, path, clip_times):
    """Writes folder/<key>/ for one video: clip_times [(start, end)] seconds. Returns False when
    it was already there."""
    target = os.path.join(folder, thumb_key(video_id))
    if os.path.isdir(target):
        return False
    mids = [(float(s) + float(e)) / 2 for s, e in clip_times]
    whole = ((float(clip_times[0][0]) + float(clip_times[-1][1])) / 2 if clip_times else 0.0)
    frames = frames_at(path, mids + [whole])
    os.makedirs(folder, exist_ok=True)
    with atomic_dir(target) as tmp:
        _jpeg(frames[whole], os.path.join(tmp, "video.jpg"))
        for i, t in enumerate(mids):
            _jpeg(frames[t], os.path.join(tmp, f"clip-{i:04d}.jpg"))
    return True


def write_media(index_dir, files):
    """Adds {video id: file} to INDEX/media.json (atomically)."""
    path = os.path.join(index_dir, MEDIA)
    media = read_media(index_dir)
    media.update({v: os.path.abspath(p) for v, p in files.items()})
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(media, f)


def read_media(index_dir):
    """{video id: file} of INDEX/media.json ({} when there is none); ValueError naming the
    file and video id of a value that is not a file path."""
    path = os.path.join(index_dir, MEDIA)
    media = read_json_object(path, "the media list")
    for vid, file in media.items():
        if not isinstance(file, str) or not file or "\0" in file:
            raise ValueError(f"{path}: video {vid}: field value must be a file path, got "
                             f"{file!r:.80}")
    return media


def check_media(index_dir, video_ids, files=False):
    """media.json names only indexed videos (`video_ids`: a set of str), and with `files`
    only files that exist; ValueError naming the file and video id."""
    path = os.path.join(index_dir, MEDIA)
    for vid, file in read_media(index_dir).items():
        if vid not in video_ids:
            raise ValueError(f"{path}: video {vid}: not in the index")
        if files and not os.path.isfile(file):
            raise ValueError(f"{path}: video {vid}: {file}: no such file")


JPEG_MAGIC = b"\xff\xd8\xff"


def check_thumbnails(index_dir, video_ids):
    """thumbnails/ holds one folder per indexed video (`video_ids`: a set of str), each with
    video.jpg and clip-NNNN.jpg files that are JPEGs; ValueError naming the first bad one."""
    folder = os.path.join(index_dir, THUMBNAILS)
    if not os.path.lexists(folder):
        return
    if os.path.islink(folder) or not os.path.isdir(folder):
        raise ValueError(f"{folder}: not a folder")
    keys = {thumb_key(v): v for v in video_ids}
    for key in sorted(os.listdir(folder)):
        sub = os.path.join(folder, key)
        if key not in keys or os.path.islink(sub) or not os.path.isdir(sub):
            raise ValueError(f"{sub}: not the thumbnail folder of an indexed video")
        for name in sorted(os.listdir(sub)):
            file = os.path.join(sub, name)
            if not THUMB_FILE.fullmatch(name) or not os.path.isfile(file):
                raise ValueError(f"{file}: video {keys[key]}: not a thumbnail index build writes")
            with open(file, "rb") as f:
                if f.read(3) != JPEG_MAGIC:
                    raise ValueError(f"{file}: video {keys[key]}: not a JPEG")


def clip_times_by_video(clip_ids):
    """{video id: [(start, end)] seconds} from a clip index's ids (clips without seconds are
    left out)."""
    out = {}
    for entry in clip_ids:
        if "start" in entry:
            out.setdefault(entry["video"], []).append((entry["start"], entry["end"]))
    return out


def add_thumbnails(index_dir, files, progress=False, issues=None):
    """Thumbnails and media for the videos of an index built from their features: `files`
    {video id: file}; ids the index does not hold are ignored. Returns how many were written."""
    from tqdm.auto import tqdm

    from hse_tf.data.errors import DataError
    from hse_tf.index.gallery_index import GalleryIndex
    index = GalleryIndex.load(index_dir)
    clips_dir = os.path.join(index_dir, "clips")
    times = (clip_times_by_video(GalleryIndex.load(clips_dir).ids)
             if os.path.exists(os.path.join(clips_dir, "index.json")) else {})
    known = [v for v in index.ids if v in files]
    written = 0
    for vid in tqdm(known, desc="thumbnails", disable=not progress):
        try:
            written += write_video_thumbnails(os.path.join(index_dir, THUMBNAILS), vid,
                                              files[vid], times.get(vid, []))
        except DataError as e:
            if issues is None:
                raise
            issues.bad("bad_video", e)
    write_media(index_dir, {v: files[v] for v in known})
    return written
