"""FrameFeatureExtractor: decoded uint8 frames -> one pooled feature vector per frame."""

import keras
import tensorflow as tf

from hse_tf.features.backbones import get_backbone


class FrameFeatureExtractor(keras.Model):
    """uint8 [N, H, W, 3] RGB frames of any size -> float32 [N, dim].

    The backbone's preprocessing is part of the model (resize the shorter side to the input size
    with antialiasing, centre crop, scale), so extraction and the exported hse_features model
    compute the same thing from the same decoded frames.
    """

    def __init__(self, backbone="inception_v3", weights="imagenet", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.backbone_name = backbone
        self.spec = get_backbone(backbone)
        self.weights_source = weights
        self.seed = seed
        self.net = self.spec.build(weights, seed)
        self.dim = self.spec.dim
        self.build()

    def build(self, input_shape=None):
        """The backbone is a built Functional model; preprocessing has no weights."""
        self.built = True

    def preprocess(self, frames):
        """uint8 [N, H, W, 3] -> float32 [N, S, S, 3] in the backbone's input range."""
        size = self.spec.image_size
        x = tf.cast(frames, tf.float32)
        hw = tf.cast(tf.shape(x)[1:3], tf.float32)
        scale = size / tf.reduce_min(hw)
        new_hw = tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), size)
        x = tf.image.resize(x, new_hw, method="bilinear", antialias=True)
        top = (new_hw[0] - size) // 2
        left = (new_hw[1] - size) // 2
        x = x[:, top:top + size, left:left + size, :]
        x = tf.clip_by_value(x, 0.0, 255.0)
        if self.spec.scaling == "inception":
            x = x / 127.5 - 1.0
        return tf.ensure_shape(x, [None, size, size, 3])

    def call(self, frames):
        return self.net(self.preprocess(frames), training=False)

    def get_config(self):
        return {**super().get_config(), "backbone": self.backbone_name,
                "weights": self.weights_source, "seed": self.seed}
