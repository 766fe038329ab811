"""GRU sequence encoder with channel-wise max pooling over the valid steps."""

import keras
import tensorflow as tf

from hse_tf.layers import packed_gru
from hse_tf.layers.gru_implementations import GRU_IMPLEMENTATIONS as IMPLEMENTATIONS
from hse_tf.layers.ragged import pad_rows


def check_implementation(implementation):
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    return implementation


def use_packed(implementation):
    """'packed' (hse_tf.layers.packed_gru) or 'keras' (keras.layers.GRU, which takes cuDNN on a
    GPU); 'auto' = keras where TensorFlow sees a GPU, packed otherwise. Both compute the same GRU
    from the same weights. Asked when a call is traced, not when a layer is made (listing devices
    starts TensorFlow's runtime, after which its thread pools are fixed)."""
    if check_implementation(implementation) == "auto":
        return not tf.config.list_logical_devices("GPU")
    return implementation == "packed"


@keras.saving.register_keras_serializable(package="hse_tf")
class SequenceEncoder(keras.layers.Layer):
    """One unidirectional GRU; the embedding is the channel-wise max of its outputs at valid steps.

    cuDNN-compatible settings (tanh / sigmoid, reset_after, no recurrent dropout, right-padded
    mask), Xavier (Glorot) init for both kernels, zero biases. Every row must have >= 1 valid step:
    callers run it over real clips/sentences only, never padding rows.

    implementation: see `use_packed`. On CPUs the packed GRU skips the padding steps and
    differentiates faster; on GPUs Keras' GRU runs cuDNN.

    call(inputs, lengths [N], initial_state [N, units] or None, starts [N] or None) -> [N, units],
    where inputs are padded [N, T, D] or the rows' values [V, D]: back to back, or row i at
    values[starts[i]:starts[i] + lengths[i]] when `starts` is given (rows may share values,
    which the packed path then projects once).
    """

    def __init__(self, units, implementation="auto", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.implementation = check_implementation(implementation)
        self.gru = keras.layers.GRU(
            units, return_sequences=True, kernel_initializer="glorot_uniform",
            recurrent_initializer="glorot_uniform", bias_initializer="zeros", name="gru")

    def build(self, input_shape):
        self.gru.build((None, None, input_shape[-1]))
        self.built = True

    def call(self, inputs, lengths, initial_state=None, training=None, starts=None):
        if starts is not None and inputs.shape.rank != 2:
            raise ValueError(f"{self.name}: starts index values [V, D]; got inputs of shape "
                             f"{inputs.shape} (padded rows already start at 0)")
        if use_packed(self.implementation):
            return packed_gru.encode_max(self.gru.cell, inputs, lengths, initial_state, training,
                                         starts)
        if inputs.shape.rank == 2:
            inputs = pad_rows(inputs, lengths, starts)
        mask = tf.sequence_mask(lengths, tf.shape(inputs)[1])
        state = None if initial_state is None else [initial_state]
        outputs = self.gru(inputs, mask=mask, initial_state=state)
        # Padded steps must never win the max: push them to the dtype's lowest value.
        lowest = tf.constant(outputs.dtype.min, outputs.dtype)
        outputs = tf.where(mask[..., None], outputs, lowest)
        return tf.reduce_max(outputs, axis=1)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "implementation": self.implementation}
