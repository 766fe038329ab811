"""Serving signature of the MLP classifier: raw whole-video features -> class probabilities.

The SavedModel holds the frozen clip encoder (run over the whole video, subsampled to 80
frames, as in training the classifier) and the MLP.
"""

import tensorflow as tf

from hse_tf.data.preprocessing import Preprocessing
from hse_tf.export import preprocess as P
from hse_tf.layers.ragged import pad_rows
from hse_tf.losses.ranking import l2_normalize


def classifier_endpoints(clip_encoder, classifier, classes, feature_dim, top_k=5,
                         preprocessing=None):
    """serving_default: features [B, T, D] float32, feature_lengths [B] int64 ->
    probabilities [B, C], top_classes [B, k] string, top_scores [B, k]."""
    names = tf.constant(list(classes))
    k = min(top_k, len(classes))

    def serving_default(features, feature_lengths):
        lengths = P.check_counts(feature_lengths, tf.shape(features)[1], "feature_lengths",
                                 "frames")
        whole = tf.stack([tf.zeros_like(lengths), lengths - 1], axis=1)  # one span per video
        batch = P.video_batch(P.unpad(features, lengths), lengths, tf.ones_like(lengths), whole,
                              None, (preprocessing or Preprocessing()).max_frames)
        emb = l2_normalize(clip_encoder(pad_rows(batch["flat_frames"], batch["flat_lengths"]),
                                        batch["flat_lengths"]))
        probs = tf.nn.softmax(classifier(emb, training=False))
        top = tf.math.top_k(probs, k)
        return {"probabilities": probs, "top_classes": tf.gather(names, top.indices),
                "top_scores": top.values}

    return {"serving_default": (serving_default, [
        tf.TensorSpec([None, None, feature_dim], tf.float32, name="features"),
        tf.TensorSpec([None], tf.int64, name="feature_lengths")])}
