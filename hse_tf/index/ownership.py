"""Which folders an index command may replace: an index folder of the same content, holding
nothing but what index commands write, at every depth.

    VIDEO_INDEX  index.json ids.json embeddings.npy [faiss.index] [clips/] [thumbnails/]
                 [media.json]                       (index build)
    CLIP_INDEX   the clips/ folder inside a video index
    TEXT_INDEX   a paragraph index                  (index build-text)

index.json must be an index's metadata (kind, dim, count) whose "content" is the one expected,
so a folder that merely holds a file named index.json, or an index of another content, is never
replaced. clips/ must itself be a clip index, and thumbnails/ only the <key>/video.jpg and
<key>/clip-NNNN.jpg files that hse_tf.index.thumbnails writes.
"""

import json
import os

from hse_tf.data.outputs import OutputKind
from hse_tf.index import thumbnails

CONTENTS = ("videos", "clips", "paragraphs")
INDEX_FILES = frozenset({"index.json", "ids.json", "embeddings.npy", "faiss.index"})


def read_content(path):
    """The content of the index in folder `path` ("videos", "clips", "paragraphs"), or None when
    its index.json is not an index's metadata."""
    try:
        with open(os.path.join(path, "index.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("count"), int) or not isinstance(
            meta.get("dim"), int) or not isinstance(meta.get("kind"), str):
        return None
    content = meta.get("content", "videos")  # indices from before the field held videos
    return content if content in CONTENTS else None


def _thumbnails_problem(folder):
    if os.path.islink(folder) or not os.path.isdir(folder):
        return f"{folder}: not a thumbnails folder"
    for key in os.listdir(folder):
        sub = os.path.join(folder, key)
        if not thumbnails.THUMB_DIR.fullmatch(key) or os.path.islink(sub) or not os.path.isdir(sub):
            return f"{sub}: not a thumbnail folder that index build writes"
        for name in os.listdir(sub):
            file = os.path.join(sub, name)
            if not thumbnails.THUMB_FILE.fullmatch(name) or os.path.islink(file) or not os.path.isfile(
                    file):
                return f"{file}: not a thumbnail that index build writes"
    return None


def index_problem(path, content):
    """Why folder `path` is not an index of `content` that an index command may replace, or
    None."""
    found = read_content(path)
    if found is None:
        return f"{os.path.join(path, 'index.json')}: not an hse_tf index's metadata"
    if found != content:
        return f"{path}: holds an index of {found}, and an index of {content} never replaces it"
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if name in INDEX_FILES:
            if os.path.islink(full) or not os.path.isfile(full):
                return f"{full}: not a file that index build writes"
        elif content == "videos" and name == "clips":
            if os.path.islink(full) or not os.path.isdir(full):
                return f"{full}: not a clip index"
            problem = index_problem(full, "clips")
            if problem:
                return problem
        elif content == "videos" and name == thumbnails.THUMBNAILS:
            problem = _thumbnails_problem(full)
            if problem:
                return problem
        elif content == "videos" and name == thumbnails.MEDIA:
            if os.path.islink(full) or not os.path.isfile(full):
                return f"{full}: not a media list"
        else:
            return f"{full}: not written by index build"
    return None


def index_kind(content):
    """The OutputKind of an index folder of `content`."""
    if content not in CONTENTS:
        raise ValueError(f"unknown index content {content!r}; one of {CONTENTS}")
    members = INDEX_FILES | ({"clips", thumbnails.THUMBNAILS, thumbnails.MEDIA}
                             if content == "videos" else set())
    what = {"videos": "video index", "clips": "clip index", "paragraphs": "text index"}[content]
    return OutputKind(what, "index.json", frozenset(members),
                      check=lambda path: index_problem(path, content))


VIDEO_INDEX, CLIP_INDEX, TEXT_INDEX = (index_kind(c) for c in CONTENTS)
