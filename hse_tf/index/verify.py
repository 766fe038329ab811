"""Checks a whole index folder: the index, its clip index, its media list and thumbnails
(`python -m hse_tf.index verify`)."""

import os

from hse_tf.index import ownership, thumbnails
from hse_tf.index.gallery_index import GalleryIndex, IndexFileError, verify


def verify_folder(path):
    """`verify` of an index folder and of everything in it: the clip index in clips/ (an index
    of clips whose every video is in the video index), media.json (video id -> an existing
    file, for indexed videos only) and thumbnails/ (a folder per indexed video holding JPEGs).
    Returns the summaries of the indices checked; raises IndexFileError naming the first bad
    file, video id or field."""
    found = ownership.read_content(path)
    if found is None:
        raise IndexFileError(f"{os.path.join(path, 'index.json')}: not an hse_tf index's "
                             f"metadata")
    index = GalleryIndex.load(path)
    out = [verify(path, index)]
    clips = os.path.join(path, "clips")
    if found != "videos":
        return out
    known = {str(v) for v in index.ids}
    if os.path.lexists(clips):
        content = ownership.read_content(clips)
        if content != "clips":
            raise IndexFileError(f"{clips}: holds {'an index of ' + content if content else 'no index'}, "
                                 f"not the clip index of {path}")
        clip_index = GalleryIndex.load(clips)
        out.append(verify(clips, clip_index))
        for row, entry in enumerate(clip_index.ids):
            if not isinstance(entry, dict) or str(entry.get("video")) not in known:
                raise IndexFileError(f"{os.path.join(clips, 'ids.json')}: row {row}: field "
                                     f"'video' names no video of {path}")
    try:
        thumbnails.check_media(path, known, files=True)
        thumbnails.check_thumbnails(path, known)
    except ValueError as e:
        raise IndexFileError(str(e)) from None
    return out
