"""How the GRU runs (hse_tf.layers.SequenceEncoder, --gru_implementation): 'packed'
(hse_tf/layers/packed_gru.py: no steps spent on padding, a hand-written backward pass; the CPU
path), 'keras' (keras.layers.GRU: cuDNN on a GPU), 'auto' = keras where TensorFlow sees a GPU,
else packed. A module of its own so that the trainer's flags name them without TensorFlow."""

GRU_IMPLEMENTATIONS = ("auto", "packed", "keras")
