"""VideoFileStore: a folder of video files read like a feature file (`get(video_id)`)."""

import os

import numpy as np

from hse_tf.data.errors import DataError
from hse_tf.data.pipeline import prefetch
from hse_tf.features.decoding import frame_batches, list_videos


def file_features(path, fps, embed_frames, batch_size=32):
    """float32 [T, D] of one video file: frames sampled at `fps`, decoded a batch ahead of
    `embed_frames` (uint8 [N, H, W, 3] -> [N, D]). DataError for an unreadable file."""
    batches = prefetch(frame_batches(path, fps, batch_size))
    return np.concatenate([embed_frames(b) for b in batches]).astype(np.float32)


class VideoFileStore:
    """`get(video_id) -> float32 [T, D]`: decodes the file at `fps` and runs `embed_frames`
    (uint8 [N, H, W, 3] -> [N, D], e.g. the exported hse_features model) batch by batch.

    Lets `index build --videos` use the index builder unchanged: features are computed on the
    fly and never stored.
    """

    field = "video"

    def __init__(self, source, fps, embed_frames, batch_size=32):
        self.path = os.path.abspath(os.fspath(source))
        self.files = list_videos(source)
        self.fps = float(fps)
        self.embed_frames = embed_frames
        self.batch_size = batch_size

    def keys(self):
        return sorted(self.files)

    def __contains__(self, video_id):
        return video_id in self.files

    def get(self, video_id):
        if video_id not in self.files:
            raise DataError("no video file for this annotated video", file=self.path,
                            video=video_id, field=self.field)
        return file_features(self.files[video_id], self.fps, self.embed_frames, self.batch_size)

    def close(self):
        pass
