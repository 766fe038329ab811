"""Serving signature of the captioning head: raw clip features -> caption strings.

The SavedModel holds the HSE video tower (frozen) and the captioner, so a request carries the
same inputs as hse_video's serving_default and gets one caption per clip.
"""

import tensorflow as tf

from hse_tf.caption.captioner import tf_ids_to_text
from hse_tf.data.preprocessing import Preprocessing
from hse_tf.export.video_export import check_durations, padded_video_batch, video_input_signature
from hse_tf.losses.ranking import l2_normalize
from hse_tf.export.layout import MAX_CLIPS


def caption_endpoints(video_tower, captioner, words, feature_dim, beam=5, max_len=30,
                      length_penalty=0.0, max_clips=MAX_CLIPS, preprocessing=None):
    """serving_default: features [B,T,D], feature_lengths [B], clip_times [B,C,2] seconds,
    clip_counts [B], durations [B] -> captions [B, C] string ('' past clip_counts),
    log_probs [B, C] float32 (the beam score of each caption)."""

    def serving_default(features, feature_lengths, clip_times, clip_counts, durations):
        check_durations(durations, clip_counts)
        batch, counts = padded_video_batch(features, feature_lengths, clip_times, clip_counts,
                                           durations, max_clips,
                                           preprocessing or Preprocessing())
        request_order = batch.pop("request_order")
        out = video_tower(batch, training=False, decode=False)
        video = tf.repeat(l2_normalize(out["video"]), counts, axis=0)
        clips = tf.gather(l2_normalize(out["clips"]), request_order)  # the request's order
        cond = tf.concat([clips, video], axis=1)
        ids, _, scores = captioner.decode(cond, beam, max_len, length_penalty)
        shape = tf.stack([tf.size(counts, out_type=tf.int64),
                          tf.shape(clip_times, out_type=tf.int64)[1]])
        return {
            "captions": tf.RaggedTensor.from_row_lengths(tf_ids_to_text(ids, words), counts)
            .to_tensor(default_value="", shape=shape),
            "log_probs": tf.RaggedTensor.from_row_lengths(scores, counts)
            .to_tensor(default_value=0.0, shape=shape),
        }

    return {"serving_default": (serving_default, video_input_signature(feature_dim))}
