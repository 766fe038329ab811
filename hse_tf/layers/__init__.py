"""Reusable Keras layers: the sequence encoders (the GRU, packed on CPUs, and attention) and
their registry ENCODERS, the GRU decoder, and values + lengths <-> padded helpers. The layers
load (with TensorFlow) when first used; the registry and configs import no TensorFlow."""

from hse_tf import lazy_exports
from hse_tf.layers.attention_config import AttentionConfig
from hse_tf.layers.encoders import (DEFAULT_HIDDEN, ENCODERS, is_contextual, level_options,
                                    make_encoder)

__getattr__, __dir__ = lazy_exports(__name__, {
    "AttentionEncoder": "hse_tf.layers.attention_encoder",
    "SequenceDecoder": "hse_tf.layers.sequence_decoder",
    "SequenceEncoder": "hse_tf.layers.sequence_encoder",
    "pad_rows": "hse_tf.layers.ragged", "segment_ids": "hse_tf.layers.ragged"})
