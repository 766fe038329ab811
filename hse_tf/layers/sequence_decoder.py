"""GRU decoder fed the same vector at every step (the paper's layer-wise reconstruction)."""

import keras
import tensorflow as tf

from hse_tf.layers import packed_gru
from hse_tf.layers.sequence_encoder import check_implementation, use_packed


@keras.saving.register_keras_serializable(package="hse_tf")
class SequenceDecoder(keras.layers.Layer):
    """GRU whose hidden size is the target's dimension; input = the code repeated `length` times.

    No teacher forcing. call(codes [N, H], lengths [N]) -> [N, max(lengths), units]; steps past a
    row's length are meaningless and must be masked by the caller (the packed implementation
    leaves zeros there; see SequenceEncoder for `implementation`).
    """

    def __init__(self, units, implementation="auto", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.implementation = check_implementation(implementation)
        self.gru = keras.layers.GRU(
            units, return_sequences=True, kernel_initializer="glorot_uniform",
            recurrent_initializer="glorot_uniform", bias_initializer="zeros", name="gru")

    def build(self, input_shape):
        self.gru.build((input_shape[0], None, input_shape[-1]))
        self.built = True

    def call(self, codes, lengths, training=None):
        if use_packed(self.implementation):
            return packed_gru.decode(self.gru.cell, codes, lengths, training)
        steps = tf.reduce_max(lengths)
        inputs = tf.repeat(codes[:, None, :], steps, axis=1)
        mask = tf.sequence_mask(lengths, steps)
        return self.gru(inputs, mask=mask)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "implementation": self.implementation}
