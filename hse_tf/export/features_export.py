"""Serving signature of the frame backbone: decoded uint8 frames -> frame features.

Exported beside hse_video as hse_features when the run trained on features from
`python -m hse_tf.features extract`, so a client (or `index build --videos`) computes the same
features as training: same backbone, weights and preprocessing (resize, crop, scaling).
"""

import tensorflow as tf

# What one hse_features request may hold (INVALID_ARGUMENT beyond), checked before the frames
# are resized: a few bytes of 1x1 frames would otherwise become N x S x S x 3 floats.
MAX_FRAMES_PER_REQUEST = 64  # frames per request (index build sends 32 at a time)
MAX_ASPECT = 4  # the resized frames of a request hold at most MAX_FRAMES_PER_REQUEST x MAX_ASPECT x
#                S x S pixels (S: the backbone input size): 16:9 video passes at 64 frames


def features_endpoints(extractor, max_frames=MAX_FRAMES_PER_REQUEST, max_aspect=MAX_ASPECT):
    """serving_default: frames uint8 [N, H, W, 3] RGB (one video's frames sampled at the
    metadata's fps, at most `max_frames` a request) -> features float32 [N, D]."""
    size = extractor.spec.image_size
    budget = max_frames * max_aspect * size * size

    def serving_default(frames):
        shape = tf.shape(frames, out_type=tf.int64)
        hw = tf.cast(shape[1:3], tf.float64)
        resized = tf.maximum(tf.round(hw * size / tf.reduce_min(hw)), size)  # as preprocess
        checks = [
            tf.debugging.assert_positive(shape[1:3],
                                         message="frames: height and width must be > 0"),
            tf.debugging.assert_less_equal(
                shape[0], tf.constant(max_frames, tf.int64),
                message=f"frames: more than {max_frames} in one request (the export's limit)"),
        ]
        with tf.control_dependencies(checks):
            pixels = tf.cast(shape[0], tf.float64) * tf.reduce_prod(resized)
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                pixels, tf.constant(float(budget), tf.float64),
                message=f"frames: resized to the backbone's input they would exceed "
                        f"{budget} pixels (frames x height x width; the export's limit): send "
                        f"fewer frames, or frames closer to square")]):
            frames = tf.identity(frames)
        return {"features": extractor(frames)}

    return {"serving_default": (serving_default, [
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")])}
