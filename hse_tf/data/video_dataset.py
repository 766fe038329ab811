"""A split of annotated videos over a feature store: per-video examples, read on demand."""

import copy
import dataclasses
from typing import List, Optional

import numpy as np

from hse_tf.data import clips as clip_rules
from hse_tf.data.errors import DataError, IssueLog


@dataclasses.dataclass
class VideoExample:
    video_id: str
    frames: np.ndarray        # [F, D]: the clips' (subsampled) frames, concatenated
    frame_lengths: np.ndarray  # [n]: frames per clip
    flat_frames: np.ndarray   # [G, D]: the whole video, subsampled (flat branch / FSE)
    words: np.ndarray         # [W]: word ids of all sentences, concatenated
    word_lengths: np.ndarray  # [n]: words per sentence
    clip_ranges: list         # [(start, end)] inclusive frame ranges, for inspection


def cut_clips(ann, length, issues):
    """Inclusive frame ranges, one per segment of `ann`, on features of `length` frames.

    Clamping (reversed or out-of-range segments) follows the spec and is counted in `issues`.
    """
    starts, ends, problems = clip_rules.segment_ranges(
        ann.segments, length, None if ann.unit == "frames" else ann.duration)
    for i, (seg, fixed) in enumerate(zip(ann.segments, problems)):
        for p in fixed:
            issues.fixed(f"segment_{p}", f"{ann.source}: video {ann.video_id}: segment {i} "
                                         f"{list(seg)} (duration {ann.duration}, {length} frames)")
    return list(zip(starts.tolist(), ends.tolist()))


class VideoDataset:
    """Annotations + features + vocabulary; `example(i)` reads and cuts one video.

    Text is tokenised once up front (it is small); features are read per video, so memory does
    not grow with the feature file. Bad videos raise a DataError or are skipped and counted,
    per `issues.policy`.
    """

    def __init__(self, annotations, store, vocab, issues: Optional[IssueLog] = None,
                 max_frames=clip_rules.MAX_FRAMES, name="split"):
        self.max_clips = None  # incomplete observation (Fig. 4): keep the first k clips/sentences
        self.proposals = None  # uniform proposals (Table 4): K equal segments replace the clips
        self.issues = issues or IssueLog()
        self.store = store
        self.vocab = vocab
        self.max_frames = max_frames
        self.name = name
        self.annotations = []
        self.word_ids: List[List[np.ndarray]] = []
        annotations = list(annotations)
        # Every sentence of the split tokenised in one call (hse_tf.data.vocabulary).
        all_ids = iter(vocab.ids_all(s for a in annotations for s in a.sentences))
        for ann in annotations:
            ids = [np.asarray(next(all_ids), np.int32) for _ in ann.sentences]
            if ann.unit == "seconds" and not ann.duration > 0:
                self.issues.bad("bad_duration", DataError(
                    f"duration must be > 0, got {ann.duration}", file=ann.source,
                    video=ann.video_id, field="duration"))
                continue
            empty = [i for i, x in enumerate(ids) if len(x) == 0]
            if empty:
                self.issues.bad("empty_sentence", DataError(
                    f"sentence {empty[0]} has no tokens: {ann.sentences[empty[0]]!r}",
                    file=ann.source, video=ann.video_id, field=f"sentences[{empty[0]}]"))
                continue
            self.annotations.append(ann)
            self.word_ids.append(ids)
        self.video_ids = [a.video_id for a in self.annotations]

    def __len__(self):
        return len(self.annotations)

    def view(self, max_clips=None, proposals=None):
        """A copy that embeds only the first `max_clips` clips and sentences, or replaces the
        clips by `proposals` uniform segments (the sentences stay)."""
        other = copy.copy(self)
        other.max_clips, other.proposals = max_clips, proposals
        return other

    def features(self, i):
        return self.store.get(self.annotations[i].video_id)

    def example(self, i):
        """The i-th video as a VideoExample, or None if it was skipped (policy 'skip')."""
        ann = self.annotations[i]
        try:
            feats = self.store.get(ann.video_id)
        except DataError as e:
            self.issues.bad("bad_features", e)
            return None
        length = feats.shape[0]
        ranges = cut_clips(ann, length, self.issues)
        ids = self.word_ids[i]
        first, last = 0, length - 1
        if self.max_clips is not None:
            ranges, ids = ranges[:self.max_clips], ids[:self.max_clips]
            # The flat branch sees only the observed stretch of the video.
            first, last = min(s for s, _ in ranges), max(e for _, e in ranges)
        if self.proposals is not None:
            ranges = clip_rules.uniform_segments(length, self.proposals)
        idx, counts = clip_rules.subsample_ranges([s for s, _ in ranges], [e for _, e in ranges],
                                                  self.max_frames)
        flat_idx = clip_rules.subsample_indices(first, last, self.max_frames)
        return VideoExample(
            video_id=ann.video_id,
            frames=feats[idx],
            frame_lengths=counts.astype(np.int32),
            flat_frames=feats[flat_idx],
            words=np.concatenate(ids).astype(np.int32),
            word_lengths=np.asarray([len(x) for x in ids], np.int32),
            clip_ranges=ranges,
        )
