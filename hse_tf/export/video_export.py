"""Serving signatures of the video tower: raw features + clip boundaries -> embeddings."""

import tensorflow as tf

from hse_tf.data.preprocessing import Preprocessing
from hse_tf.export import preprocess as P
from hse_tf.losses.ranking import l2_normalize
from hse_tf.export.layout import MAX_CLIPS


def video_endpoints(tower, feature_dim, max_clips=MAX_CLIPS, preprocessing=Preprocessing()):
    """{signature name: (function, input_signature)} for the exported video model, cutting and
    subsampling clips as the run did (`preprocessing`: its max_frames and sort_by_time).

    serving_default  padded, batchable by TF Serving (pad_variable_length_inputs):
        features [B, T, D] float32, feature_lengths [B] int64,
        clip_times [B, C, 2] float64 (seconds), clip_counts [B] int64, durations [B] float64
        -> video [B, H], clips [B, C, H] (zeros past clip_counts)
    ragged           values + row splits (no padding sent):
        features [T, D], feature_row_splits [B+1], clip_times [M, 2], clip_row_splits [B+1],
        durations [B] -> video [B, H], clips [M, H]
    frame_spans      padded, DiDeMo-style inclusive frame spans instead of seconds:
        features, feature_lengths, clip_spans [B, C, 2] int64, clip_counts -> as serving_default
    """

    def embed(batch, counts, width=None):
        request_order = batch.pop("request_order")
        out = tower(batch, training=False, decode=False)
        result = {"video": l2_normalize(out["video"])}
        if "clips" in out:
            # The tower saw each video's clips in time order; answer in the request's order.
            clips = tf.gather(l2_normalize(out["clips"]), request_order)
            result["clips"] = clips if width is None else P.repad(clips, counts, width)
        return result

    def padded(features, feature_lengths, bounds, clip_counts, durations):
        batch, counts = padded_video_batch(features, feature_lengths, bounds, clip_counts,
                                           durations, max_clips, preprocessing)
        return embed(batch, counts, tf.shape(bounds, out_type=tf.int64)[1])

    def serving_default(features, feature_lengths, clip_times, clip_counts, durations):
        check_durations(durations, clip_counts)
        return padded(features, feature_lengths, clip_times, clip_counts, durations)

    def frame_spans(features, feature_lengths, clip_spans, clip_counts):
        return padded(features, feature_lengths, clip_spans, clip_counts, None)

    def ragged(features, feature_row_splits, clip_times, clip_row_splits, durations):
        lengths = P.check_row_splits(feature_row_splits, tf.shape(features)[0],
                                     "feature_row_splits", "frames")
        counts = P.check_row_splits(clip_row_splits, tf.shape(clip_times)[0], "clip_row_splits",
                                    "clips", max_per_row=max_clips)
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.size(lengths), tf.size(counts),
                message="feature_row_splits and clip_row_splits: different batch sizes")]):
            batch = P.video_batch(features, lengths, counts, clip_times, durations,
                                  preprocessing.max_frames, preprocessing.sort_by_time)
        check_durations(durations, counts)
        return embed(batch, counts)

    f32, f64, i64 = tf.float32, tf.float64, tf.int64
    spec = tf.TensorSpec
    return {
        "serving_default": (serving_default, video_input_signature(feature_dim)),
        "ragged": (ragged, [
            spec([None, feature_dim], f32, name="features"),
            spec([None], i64, name="feature_row_splits"),
            spec([None, 2], f64, name="clip_times"),
            spec([None], i64, name="clip_row_splits"),
            spec([None], f64, name="durations")]),
        "frame_spans": (frame_spans, [
            spec([None, None, feature_dim], f32, name="features"),
            spec([None], i64, name="feature_lengths"),
            spec([None, None, 2], i64, name="clip_spans"),
            spec([None], i64, name="clip_counts")]),
    }


def padded_video_batch(features, feature_lengths, bounds, clip_counts, durations, max_clips,
                       preprocessing=Preprocessing()):
    """Padded request tensors -> (the model's video batch, clip counts), with the checks."""
    lengths = P.check_counts(feature_lengths, tf.shape(features)[1], "feature_lengths", "frames")
    counts = P.check_counts(clip_counts, tf.shape(bounds)[1], "clip_counts", "clips", max_clips)
    with tf.control_dependencies([tf.debugging.assert_equal(
            tf.size(lengths), tf.size(counts),
            message="feature_lengths and clip_counts: different batch sizes")]):
        batch = P.video_batch(P.unpad(features, lengths), lengths, counts,
                              P.unpad(bounds, counts), durations, preprocessing.max_frames,
                              preprocessing.sort_by_time)
    return batch, counts


def video_input_signature(feature_dim):
    """The padded (serving_default) inputs of hse_video, shared by hse_caption."""
    return [tf.TensorSpec([None, None, feature_dim], tf.float32, name="features"),
            tf.TensorSpec([None], tf.int64, name="feature_lengths"),
            tf.TensorSpec([None, None, 2], tf.float64, name="clip_times"),
            tf.TensorSpec([None], tf.int64, name="clip_counts"),
            tf.TensorSpec([None], tf.float64, name="durations")]


def check_durations(durations, counts):
    tf.debugging.assert_equal(tf.size(durations), tf.size(counts),
                              message="durations: one per video needed")
