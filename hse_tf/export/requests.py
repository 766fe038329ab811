"""Request tensors for the exported models' padded signatures, from Python lists (numpy only).

Shared by the gRPC client and the in-process index builder, so both pad the same way.
"""

import numpy as np


def pad(arrays, dtype, tail=()):
    """List of [n_i, *tail] arrays -> ([B, max n_i, *tail] zero-padded, counts [B] int64)."""
    counts = np.asarray([len(a) for a in arrays], np.int64)
    out = np.zeros((len(arrays), int(counts.max(initial=0)), *tail), dtype)
    for i, a in enumerate(arrays):
        if len(a):
            out[i, :len(a)] = a
    return out, counts


def text_request(paragraphs):
    """Paragraphs (lists of sentences, str or bytes) -> hse_text serving_default inputs.

    surrogateescape keeps undecodable bytes (e.g. from argv) as they were, so the model can
    reject them with a clear error rather than the caller failing on encoding.
    """
    encoded = [[s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape") for s in p]
               for p in paragraphs]
    counts = np.asarray([len(p) for p in encoded], np.int64)
    sentences = np.full((len(encoded), int(counts.max(initial=0))), b"", dtype=object)
    for i, p in enumerate(encoded):
        sentences[i, :len(p)] = p
    return {"sentences": sentences, "sentence_counts": counts}


def video_request(features, clip_bounds, durations=None):
    """features: list of [T_i, D]; clip_bounds: list of [(start, end)] per video, seconds when
    `durations` is given (hse_video serving_default / hse_caption), else inclusive frame spans
    (hse_video frame_spans)."""
    dim = features[0].shape[1] if len(features) else 0
    x, lengths = pad([np.asarray(f, np.float32) for f in features], np.float32, (dim,))
    seconds = durations is not None
    bounds, counts = pad([np.asarray(c, np.float64 if seconds else np.int64).reshape(-1, 2)
                          for c in clip_bounds], np.float64 if seconds else np.int64, (2,))
    request = {"features": x, "feature_lengths": lengths, "clip_counts": counts}
    if seconds:
        request.update(clip_times=bounds, durations=np.asarray(durations, np.float64))
    else:
        request["clip_spans"] = bounds
    return request
