"""In-graph versions of the data rules, so exported SavedModels take raw inputs.

The rules themselves are hse_tf.data.clips' (written once, run here on tf.experimental.numpy):
  times_to_frames  = clips.seconds_to_range   (ActivityNet / YouCook2 seconds)
  spans_to_frames  = clips.span_to_range      (DiDeMo frame indices)
  subsample        = clips.subsample_offsets
and tokenising is hse_tf.data.vocabulary.tf_tokenize, which training runs too.
`video_batch` / `text_batch` build the same batch dict as hse_tf.data.pipeline.collate (a test
over random annotations keeps the two paths equal).
Bad requests fail with tf.errors.InvalidArgumentError (TF Serving's INVALID_ARGUMENT) whose
message names the input.
"""

import tensorflow as tf
import tensorflow.experimental.numpy as tnp

from hse_tf.data import clips
from hse_tf.data.clips import MAX_FRAMES, SORT_BY_TIME
from hse_tf.data.vocabulary import UNK_ID, tf_token_ids


def check_row_splits(splits, n_values, what, values_name, min_rows=1, max_per_row=None):
    """Asserts that `splits` [B+1] are valid row splits over `n_values` values; returns lengths."""
    splits = tf.convert_to_tensor(splits, tf.int64)
    checks = [
        tf.debugging.assert_greater_equal(tf.size(splits, out_type=tf.int64),
                                          tf.constant(min_rows + 1, tf.int64),
                                          message=f"{what}: empty batch (needs >= {min_rows} row)"),
        tf.debugging.assert_equal(splits[0], tf.constant(0, tf.int64),
                                  message=f"{what}: row splits must start at 0"),
        tf.debugging.assert_equal(splits[-1], tf.cast(n_values, tf.int64),
                                  message=f"{what}: last row split must equal the number of "
                                          f"{values_name}"),
    ]
    with tf.control_dependencies(checks):
        lengths = splits[1:] - splits[:-1]
    checks = [tf.debugging.assert_positive(
        lengths, message=f"{what}: every row needs at least one of {values_name} (row splits "
                         f"must increase)")]
    checks += _at_most(lengths, max_per_row, what, values_name)
    with tf.control_dependencies(checks):
        return tf.identity(lengths)


def check_counts(counts, capacity, what, values_name, max_per_row=None):
    """Asserts 1 <= counts <= capacity (padded width) and a non-empty batch; returns int64."""
    counts = tf.cast(counts, tf.int64)
    checks = [
        tf.debugging.assert_positive(tf.size(counts), message=f"{what}: empty batch"),
        tf.debugging.assert_positive(counts, message=f"{what}: every row needs at least one of "
                                                     f"{values_name}"),
        tf.debugging.assert_less_equal(counts, tf.cast(capacity, tf.int64),
                                       message=f"{what}: a count exceeds the padded width"),
    ]
    checks += _at_most(counts, max_per_row, what, values_name)
    with tf.control_dependencies(checks):
        return tf.identity(counts)


def _at_most(lengths, max_per_row, what, values_name):
    if max_per_row is None:
        return []
    return [tf.debugging.assert_less_equal(
        lengths, tf.constant(max_per_row, tf.int64),
        message=f"{what}: more than {max_per_row} {values_name} in one row (the export's limit)")]


def unpad(padded, counts):
    """[B, S, ...] + counts [B] -> the valid rows, flattened [sum(counts), ...]."""
    return tf.boolean_mask(padded, tf.sequence_mask(counts, tf.shape(padded, out_type=tf.int64)[1]))


def repad(values, counts, width):
    """[sum(counts), ...] -> [B, width, ...], zeros past each row's count (inverse of unpad)."""
    mask = tf.sequence_mask(counts, width)
    shape = tf.concat([tf.shape(mask, out_type=tf.int64),
                       tf.shape(values, out_type=tf.int64)[1:]], 0)
    return tf.scatter_nd(tf.where(mask), values, shape)


def times_to_frames(times, durations, lengths):
    """Seconds [M, 2] float64, video duration [M] and feature length [M] (per clip) ->
    inclusive frame ranges (start, end) int64: clips.seconds_to_range, in-graph."""
    times = tf.cast(times, tf.float64)
    return clips.seconds_to_range(times[:, 0], times[:, 1], tf.cast(durations, tf.float64),
                                  tf.cast(lengths, tf.int64), xp=tnp)


def spans_to_frames(spans, lengths):
    """DiDeMo frame spans [M, 2] int64 -> inclusive ranges: clips.span_to_range, in-graph."""
    spans = tf.cast(spans, tf.int64)
    return clips.span_to_range(spans[:, 0], spans[:, 1], tf.cast(lengths, tf.int64), xp=tnp)


def subsample(start, end, max_frames=MAX_FRAMES):
    """Inclusive ranges -> (frame indices, flattened [sum(k)], k per range):
    clips.subsample_offsets, in-graph, over every kept frame of every range at once."""
    n = end - start + 1
    k = tf.minimum(n, max_frames)
    j = tf.ragged.range(k)  # [M, (k)]
    row = j.value_rowids()
    offset = clips.subsample_offsets(j.flat_values, tf.gather(n, row), max_frames, xp=tnp)
    return tf.gather(start, row) + offset, k


def video_batch(features, video_lengths, clip_counts, clip_bounds, durations=None,
                max_frames=MAX_FRAMES, sort_by_time=SORT_BY_TIME):
    """The model's video inputs from raw features and clip boundaries.

    features [T, D] (videos concatenated), video_lengths [B], clip_counts [B];
    clip_bounds [M, 2]: seconds when `durations` [B] is given, else DiDeMo frame spans.
    `max_frames` and `sort_by_time` are the run's (hse_tf.data.preprocessing.Preprocessing).
    With sort_by_time the batch's clips are in time order within each video, else in the
    request's order; 'request_order' [M] (not a model input: pop it) gives, for each clip of
    the request, its row among the batch's clips.
    """
    video_lengths = tf.cast(video_lengths, tf.int64)
    clip_counts = tf.cast(clip_counts, tf.int64)
    checks = [tf.debugging.assert_all_finite(features, "features: NaN or Inf in the features")]
    clip_video = tf.repeat(tf.range(tf.size(clip_counts, out_type=tf.int64)), clip_counts)
    # Training puts each video's clips in time order (sort_by_time); so does serving, whatever
    # the request's order. request_order maps the request's clips to the sorted ones.
    order = (time_order(clip_video, clip_bounds) if sort_by_time
             else tf.range(tf.size(clip_video, out_type=tf.int64)))
    clip_bounds = tf.gather(clip_bounds, order)
    clip_len = tf.gather(video_lengths, clip_video)
    if durations is not None:
        durations = tf.cast(durations, tf.float64)
        checks += [
            tf.debugging.assert_positive(durations, message="durations: must be > 0"),
            tf.debugging.assert_all_finite(tf.cast(clip_bounds, tf.float64),
                                           "clip_times: NaN or Inf"),
        ]
        with tf.control_dependencies(checks):
            start, end = times_to_frames(clip_bounds, tf.gather(durations, clip_video), clip_len)
    else:
        with tf.control_dependencies(checks):
            start, end = spans_to_frames(clip_bounds, clip_len)
    video_start = tf.cumsum(video_lengths, exclusive=True)
    clip_offset = tf.gather(video_start, clip_video)
    idx, frame_lengths = subsample(start, end, max_frames)
    idx += tf.repeat(clip_offset, frame_lengths)
    flat_idx, flat_lengths = subsample(tf.zeros_like(video_lengths), video_lengths - 1, max_frames)
    flat_idx += tf.repeat(video_start, flat_lengths)
    return {
        "frames": tf.gather(features, idx),
        "frame_lengths": tf.cast(frame_lengths, tf.int32),
        "clip_counts": tf.cast(clip_counts, tf.int32),
        "flat_frames": tf.gather(features, flat_idx),
        "flat_lengths": tf.cast(flat_lengths, tf.int32),
        "request_order": tf.math.invert_permutation(order),
    }


def time_order(clip_video, clip_bounds):
    """Permutation [M] that sorts clips by (video, start, end), stable, as the readers'
    time sort (annotations._sort_by_time) does within each video."""
    order = tf.argsort(clip_bounds[:, 1], stable=True)
    order = tf.gather(order, tf.argsort(tf.gather(clip_bounds[:, 0], order), stable=True))
    return tf.gather(order, tf.argsort(tf.gather(clip_video, order), stable=True))


def _assert_no_empty_sentence(word_lengths, sentence_counts):
    """Fails with 'sentences: paragraph P, sentence S has no words ...' (0-based, the first
    empty one) when a sentence tokenises to nothing."""
    empty = tf.cast(tf.equal(word_lengths, 0), tf.int64)
    # First empty sentence (a sentinel past the end when none, so that empty batches work).
    first = tf.argmax(tf.concat([empty, [1]], 0), output_type=tf.int64)
    starts = tf.cumsum(tf.cast(sentence_counts, tf.int64), exclusive=True)
    paragraph = tf.reduce_sum(tf.cast(starts <= first, tf.int64)) - 1
    within = first - tf.gather(tf.concat([starts, [0]], 0), tf.maximum(paragraph, 0))
    message = tf.strings.format(
        "sentences: paragraph {}, sentence {} has no words (empty or punctuation only)",
        [paragraph, within])
    return tf.debugging.Assert(tf.equal(tf.reduce_sum(empty), 0), [message])


# What one hse_text request may hold (INVALID_ARGUMENT beyond): the text tower pads every
# sentence to the longest, so a single long sentence among many short ones would cost
# sentences x its length x hidden floats. docs/serving.md lists them.
MAX_WORDS = 256               # words (tokens) in one sentence

MAX_SENTENCES = 16_384        # sentences in one request (all paragraphs together)
MAX_PADDED_WORDS = 1 << 17    # sentences x the longest sentence's words, per request


def text_batch(table, sentences, sentence_counts, max_words=MAX_WORDS,
               max_sentences=MAX_SENTENCES, max_padded_words=MAX_PADDED_WORDS):
    """The model's text inputs from raw sentence strings [N] and sentences per paragraph [B].

    Also returns per-sentence token and unknown-word counts (so callers can warn about
    queries the vocabulary does not cover). Requests over the limits above fail with
    INVALID_ARGUMENT before any padded tensor exists.
    """
    n = tf.size(sentences, out_type=tf.int64)
    too_many = tf.debugging.assert_less_equal(
        n, tf.constant(max_sentences, tf.int64),
        message=f"sentences: more than {max_sentences} in one request (the export's limit)")
    with tf.control_dependencies([too_many]):
        sentences = tf.identity(sentences)
    # Invalid UTF-8 is replaced on transcoding, so any change means the input was not UTF-8.
    clean = tf.strings.unicode_transcode(sentences, "UTF-8", "UTF-8", errors="replace")
    utf8 = tf.debugging.Assert(tf.reduce_all(tf.equal(clean, sentences)),
                               ["sentences: not valid UTF-8 text"])
    with tf.control_dependencies([utf8]):
        ids = tf_token_ids(table, sentences)
    word_lengths = ids.row_lengths()
    longest = tf.reduce_max(tf.concat([word_lengths, [0]], 0))
    checks = [_assert_no_empty_sentence(word_lengths, sentence_counts),
              tf.debugging.assert_less_equal(
                  longest, tf.constant(max_words, tf.int64),
                  message=f"sentences: a sentence of more than {max_words} words (the export's "
                          f"limit)"),
              tf.debugging.assert_less_equal(
                  longest * n, tf.constant(max_padded_words, tf.int64),
                  message=f"sentences: sentences x the longest sentence's words exceeds "
                          f"{max_padded_words} (the export's limit); send fewer sentences per "
                          f"request")]
    with tf.control_dependencies(checks):  # every output waits for the checks: nothing of
        words = tf.cast(ids.flat_values, tf.int32)  # a refused request is padded or run
        word_lengths = tf.cast(word_lengths, tf.int32)
        sentence_counts = tf.cast(sentence_counts, tf.int32)
        # Summed over the flat values: tf.equal or reduce_sum of a RaggedTensor pads it to a
        # dense [sentences, longest] tensor first (3 GB for one 20,000-word sentence among
        # 16,384 short ones).
        unknown = tf.math.unsorted_segment_sum(
            tf.cast(tf.equal(words, UNK_ID), tf.int32), ids.value_rowids(), ids.nrows())
    batch = {"words": words, "word_lengths": word_lengths, "sentence_counts": sentence_counts}
    return batch, word_lengths, unknown
