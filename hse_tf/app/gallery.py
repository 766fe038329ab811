"""What the search page shows, as plain data: a built index (videos, clips, thumbnails, media)
and the text model that came with it. No HTTP here (hse_tf.app.api serves it).

A query of one sentence ranks videos by the paragraph embedding and marks, in each, the clip
the sentence matches best; a query of several sentences (a paragraph) shows, for each top
video, which of its clips each sentence matches best: the hierarchy made visible. A clip-level
query ranks the clip index directly (moments).
"""

import dataclasses
import os
import time
import urllib.parse

import numpy as np

from hse_tf.cli import parse_int
from hse_tf.index import thumbnails as thumbs
from hse_tf.index.gallery_index import GalleryIndex, IndexFileError
from hse_tf.index.search import QueryError, embed_query, query_vector, split_sentences

LEVELS = ("video", "clip")


@dataclasses.dataclass(frozen=True)
class QueryLimits:
    max_k: int = 100
    max_chars: int = 1000
    max_sentences: int = 16


class BadParameter(QueryError):
    """A request parameter the gallery refuses (HTTP 400); names the parameter."""

    def __init__(self, parameter, message):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class RemoteText:
    """hse_text through a TF Serving gRPC endpoint, pinned to the version the index was built
    with (the same outputs as the in-process model)."""

    def __init__(self, target, version, token=None, ssl_ca=None):
        from hse_tf.serving.client import HSEClient
        self.client = HSEClient(target, timeout=30.0, ssl_ca=ssl_ca, token=token)
        self.version = version

    def check(self):
        """Asks the server for hse_text's signatures at the pinned version: ValueError naming
        the target when it cannot be reached or lacks that model."""
        import grpc
        try:
            self.client.metadata("hse_text", version=self.version)
        except grpc.RpcError as e:
            raise ValueError(f"--serving {self.client.target}: cannot use hse_text version "
                             f"{self.version} there ({e.code().name}: {e.details()})") from None

    def embed_text(self, paragraphs):
        from hse_tf.export.requests import text_request
        return self.client.predict("hse_text", text_request(paragraphs), version=self.version)


def _seconds(clip_entry):
    """{'start', 'end'} of a clip index entry, when it has times in seconds."""
    return ({"start": clip_entry["start"], "end": clip_entry["end"]} if "start" in clip_entry
            else {})


def _quote(video_id):
    return urllib.parse.quote(str(video_id), safe="")


class Gallery:
    """An index folder as the page sees it. `text`: anything with `embed_text(paragraphs)`
    (hse_tf.index.encoders.Encoders of the index's export, or RemoteText)."""

    def __init__(self, index_dir, text, text_index=None, on_unknown="refuse",
                 limits=QueryLimits()):
        self.dir = index_dir
        self.videos = GalleryIndex.load(index_dir)
        content = self.videos.metadata.get("content", "videos")
        if content != "videos":
            raise IndexFileError(f"{index_dir}: a {content} index; give the video index folder "
                                 f"(its clip index is the clips/ folder inside)")
        clips_dir = os.path.join(index_dir, "clips")
        self.clips = (GalleryIndex.load(clips_dir)
                      if os.path.exists(os.path.join(clips_dir, "index.json")) else None)
        self.text_index = GalleryIndex.load(text_index) if text_index else None
        self.text, self.on_unknown, self.limits = text, on_unknown, limits
        self.row_of = {str(v): i for i, v in enumerate(self.videos.ids)}
        self.clip_rows = {}
        for row, entry in enumerate(self.clips.ids if self.clips else ()):
            self.clip_rows.setdefault(str(entry["video"]), []).append(row)
        self.media = {v: p for v, p in thumbs.read_media(index_dir).items()
                      if v in self.row_of and os.path.isfile(p)}
        # Each video's thumbnail folder is written whole (atomically): list them once here, so a
        # request's records need no file-system calls.
        folder = os.path.join(index_dir, thumbs.THUMBNAILS)
        self.thumbnails = os.path.isdir(folder)
        self.thumbed = set(os.listdir(folder)) if self.thumbnails else set()

    # -- files the page may fetch (looked up by id, never by path) -----------------------------

    def _has_thumbnails(self, video_id):
        return thumbs.thumb_key(video_id) in self.thumbed

    def thumbnail_file(self, video_id, clip=None):
        if video_id not in self.row_of or not self._has_thumbnails(video_id):
            return None
        if clip is not None and not 0 <= clip < len(self.clip_rows.get(video_id, ())):
            return None
        path = thumbs.thumb_file(self.dir, video_id, clip)
        return path if os.path.isfile(path) else None

    def media_file(self, video_id):
        return self.media.get(video_id)

    # -- records --------------------------------------------------------------------------------

    def _clips(self, video_id):
        thumbed = self._has_thumbnails(video_id)
        return [{"clip": k, "start_frame": entry["start_frame"], "end_frame": entry["end_frame"],
                 **_seconds(entry),
                 "thumbnail": f"/thumbs/{_quote(video_id)}?clip={k}"
                 if thumbed and "start" in entry else None}  # clip JPEGs need seconds
                for k, entry in enumerate(self.clips.ids[row]
                                          for row in self.clip_rows.get(video_id, ()))]

    def _video_record(self, video_id):
        return {"thumbnail": f"/thumbs/{_quote(video_id)}"
                if self._has_thumbnails(video_id) else None,
                "media": f"/media/{_quote(video_id)}" if video_id in self.media else None,
                "clips": self._clips(video_id)}

    def video(self, video_id):
        """GET /api/videos/{id}: the video, its clips and their moments."""
        if video_id not in self.row_of:
            raise KeyError(video_id)
        return {"id": video_id, **self._video_record(video_id),
                "paragraphs_like": (f"/api/similar?video={_quote(video_id)}"
                                    if self.text_index is not None else None)}

    def _moments(self, video_id, sentences, sentence_emb):
        """For each sentence, the clip of `video_id` it matches best (cosine), with its times."""
        rows = self.clip_rows.get(video_id)
        if not rows or sentence_emb is None:
            return []
        clips = np.asarray(self.clips.embeddings[np.asarray(rows)])
        sims = sentence_emb @ clips.T  # [S, C]
        out = []
        for i, text in enumerate(sentences):
            k = int(np.argmax(sims[i]))
            out.append({"sentence": i, "text": text, "clip": k, "score": float(sims[i, k]),
                        **_seconds(self.clips.ids[rows[k]])})
        return out

    # -- search ---------------------------------------------------------------------------------

    def parse(self, q, k, level):
        """Checks a request's parameters (strings from the URL) -> (query, k, level)."""
        q = (q or "").strip()
        if not q:
            raise BadParameter("q", "empty query")
        if len(q) > self.limits.max_chars:
            raise BadParameter("q", f"the query is {len(q):,} characters long; the limit is "
                                    f"{self.limits.max_chars:,}")
        if len(split_sentences(q)) > self.limits.max_sentences:
            raise BadParameter("q", f"the query has more than {self.limits.max_sentences} "
                                    f"sentences")
        k = self._parse_k(k)
        if level not in LEVELS:
            raise BadParameter("level", f"must be one of {', '.join(LEVELS)}, got {level!r}")
        if level == "clip" and self.clips is None:
            raise BadParameter("level", "this index has no clip index")
        return q, k, level

    def _parse_k(self, k, name="k"):
        try:
            k = k if isinstance(k, int) and not isinstance(k, bool) else parse_int(k)
        except (TypeError, ValueError):
            raise BadParameter(name, f"not an integer: {k!r}") from None
        if not 1 <= k <= self.limits.max_k:
            raise BadParameter(name, f"must be between 1 and {self.limits.max_k}, got {k}")
        return k

    def search(self, q, k=10, level="video"):
        """GET /api/search: {"query", "level", "sentences", "warnings", "results",
        "timing_ms"}; each result carries what `index search --json` prints (rank, id, score)
        plus thumbnails, media, clips and moments. timing_ms: milliseconds spent embedding the
        query, searching the index and making the records."""
        q, k, level = self.parse(q, k, level)
        index = self.videos if level == "video" else self.clips
        t0 = time.perf_counter()
        try:
            sentences, out, warnings = embed_query(self.text, q, self.on_unknown,
                                                   one_sentence=level == "clip")
        except QueryError as e:
            raise BadParameter("q", getattr(e, "plain", str(e))) from None
        try:
            vector = query_vector(index, out)
        except QueryError as e:  # a flat model at clip level
            raise BadParameter("level", getattr(e, "plain", str(e))) from None
        t1 = time.perf_counter()
        scores, rows = index.search(vector, k)
        t2 = time.perf_counter()
        sentence_emb = out["sentences"][0, :len(sentences)] if "sentences" in out else None
        results = []
        for rank, (score, row) in enumerate(zip(scores[0], rows[0])):
            if row < 0:
                continue
            rid = index.ids[int(row)]
            record = {"rank": rank + 1, "id": rid, "score": float(score)}
            if level == "video":
                vid = str(rid)
                record.update(self._video_record(vid))
                record["moments"] = self._moments(vid, sentences, sentence_emb)
            else:
                vid = str(rid["video"])
                record.update(self._video_record(vid))
                record["video"] = vid
                record["clip"] = self.clip_rows[vid].index(int(row))
                record["moments"] = [{"sentence": 0, "text": sentences[0],
                                      "clip": record["clip"], "score": float(score),
                                      **_seconds(rid)}]
            results.append(record)
        t3 = time.perf_counter()
        return {"query": q, "level": level, "sentences": sentences, "warnings": warnings,
                "results": results, "timing_ms": {"embed": 1000 * (t1 - t0),
                                                  "index": 1000 * (t2 - t1),
                                                  "records": 1000 * (t3 - t2)}}

    def paragraphs_like(self, video_id, k=5):
        """The text index's paragraphs nearest to a video (video -> text)."""
        from hse_tf.index.search import video_query
        if self.text_index is None:
            raise BadParameter("video", "this gallery has no paragraphs to compare with")
        k = self._parse_k(k)
        if video_id not in self.row_of:
            raise KeyError(video_id)
        return {"video": video_id,
                "results": video_query(self.videos, video_id, self.text_index, k)}

    def summary(self):
        return {"videos": len(self.videos), "clips": len(self.clips) if self.clips else 0,
                "thumbnails": self.thumbnails, "media": len(self.media),
                "text_index": self.text_index is not None,
                "limits": dataclasses.asdict(self.limits)}
