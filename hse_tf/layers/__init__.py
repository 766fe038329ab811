"""Reusable Keras layers: the sequence encoders (the GRU, packed on CPUs, and attention) and
their registry ENCODERS, the GRU decoder, and values + lengths <-> padded helpers."""

from hse_tf.layers.attention_encoder import AttentionEncoder
from hse_tf.layers.attention_config import AttentionConfig
from hse_tf.layers.encoders import (DEFAULT_HIDDEN, ENCODERS, is_contextual, level_options,
                                   make_encoder)
from hse_tf.layers.sequence_decoder import SequenceDecoder
from hse_tf.layers.sequence_encoder import SequenceEncoder
from hse_tf.layers.ragged import pad_rows, segment_ids
