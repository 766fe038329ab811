"""GRU sequence encoder with channel-wise max pooling over the valid steps."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="hse_tf")
class SequenceEncoder(keras.layers.Layer):
    """One unidirectional GRU; the embedding is the channel-wise max of its outputs at valid steps.

    cuDNN-compatible settings (tanh / sigmoid, reset_after, no recurrent dropout, right-padded
    mask), Xavier (Glorot) init for both kernels, zero biases. Every row must have >= 1 valid step:
    callers run it over real clips/sentences only, never padding rows.

    call(inputs [N, T, D], lengths [N], initial_state [N, units] or None) -> [N, units]
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.gru = keras.layers.GRU(
            units, return_sequences=True, kernel_initializer="glorot_uniform",
            recurrent_initializer="glorot_uniform", bias_initializer="zeros", name="gru")

    def build(self, input_shape):
        self.gru.build(input_shape)
        self.built = True

    def call(self, inputs, lengths, initial_state=None):
        mask = tf.sequence_mask(lengths, tf.shape(inputs)[1])
        state = None if initial_state is None else [initial_state]
        outputs = self.gru(inputs, mask=mask, initial_state=state)
        # Padded steps must never win the max: push them to the dtype's lowest value.
        lowest = tf.constant(outputs.dtype.min, outputs.dtype)
        outputs = tf.where(mask[..., None], outputs, lowest)
        return tf.reduce_max(outputs, axis=1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
