"""Serving signature of the frame backbone: decoded uint8 frames -> frame features.

Exported beside hse_video as hse_features when the run trained on features from
`python -m hse_tf.features extract`, so a client (or `index build --videos`) computes the same
features as training: same backbone, weights and preprocessing (resize, crop, scaling).
"""

import tensorflow as tf


def features_endpoints(extractor):
    """serving_default: frames uint8 [N, H, W, 3] RGB (one video's frames sampled at the
    metadata's fps) -> features float32 [N, D]."""

    def serving_default(frames):
        tf.debugging.assert_positive(tf.shape(frames)[1:3],
                                     message="frames: height and width must be > 0")
        return {"features": extractor(frames)}

    return {"serving_default": (serving_default, [
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")])}
