"""The text tower: words -> sentences -> paragraph (HSE), or words -> paragraph (FSE)."""

import keras
import tensorflow as tf

from hse_tf.layers import (DEFAULT_HIDDEN, SequenceDecoder, SequenceEncoder, is_contextual,
                           level_options, make_encoder, pad_rows, segment_ids)
from hse_tf.layers.sequence_encoder import use_packed


@keras.saving.register_keras_serializable(package="hse_tf")
class TextEncoder(keras.Model):
    """call(batch dict) -> dict of unnormalised embeddings.

    Inputs: words [W] int ids (0 = padding, 1 = UNK), word_lengths [S], sentence_counts [B].
    Outputs: 'paragraph' [B, H]; HSE adds 'sentences' [S, H], 'flat' [B, H] (flat context: the
    sentence GRU over the whole paragraph), and reconstruction outputs like the video tower.
    Word vectors are fine-tuned; set them from GloVe with `set_word_vectors`.
    """

    def __init__(self, vocab_size, word_dim=300, hidden=DEFAULT_HIDDEN, hierarchical=True,
                 flat_context=True, reconstruct=False, gru_implementation="auto",
                 low_encoder="gru", high_encoder="gru", attention=None, **kwargs):
        super().__init__(**kwargs)
        self.gru_implementation = impl = gru_implementation
        self.vocab_size, self.word_dim, self.hidden = vocab_size, word_dim, hidden
        self.hierarchical, self.flat_context = hierarchical, flat_context
        self.reconstruct = reconstruct and hierarchical
        # low: words -> sentence (and the flat paragraph); high: sentences -> paragraph
        self.low_encoder, self.high_encoder = low_encoder, high_encoder
        self.attention = dict(attention or {})
        self.embedding = keras.layers.Embedding(vocab_size, word_dim, name="word_embedding")
        self.sentence_encoder = make_encoder(low_encoder, hidden, impl,
                                             level_options(self.attention, hidden),
                                             "sentence_encoder")
        # contextual (COOT): sentences also attend over the whole paragraph's words
        self.contextual = hierarchical and is_contextual(high_encoder, self.attention)
        if hierarchical:
            self.paragraph_encoder = make_encoder(high_encoder, hidden, impl,
                                                  level_options(self.attention, hidden, word_dim),
                                                  "paragraph_encoder")
        if self.reconstruct:
            self.paragraph_decoder = SequenceDecoder(hidden, impl, name="paragraph_decoder")
            self.sentence_decoder = SequenceDecoder(word_dim, impl, name="sentence_decoder")

    def set_word_vectors(self, matrix):
        if not self.embedding.built:
            self.embedding.build((None,))
        self.embedding.embeddings.assign(matrix)

    def build(self, input_shape=None):
        """Every weight from the config alone (the batch dict's sizes add nothing)."""
        if not self.embedding.built:
            self.embedding.build((None,))
        self.sentence_encoder.build((None, None, self.word_dim))
        if self.hierarchical:
            self.paragraph_encoder.build((None, None, self.hidden))
        if self.reconstruct:
            self.paragraph_decoder.build((None, self.hidden))
            self.sentence_decoder.build((None, self.hidden))
        self.built = True

    def call(self, inputs, training=None, decode=True):
        # decode=False: embeddings only (serving), skipping the reconstruction decoders.
        words, word_lengths = inputs["words"], inputs["word_lengths"]
        sentence_counts = inputs["sentence_counts"]
        vectors = self.embedding(words)
        para_lengths = tf.math.segment_sum(word_lengths, segment_ids(sentence_counts))
        if not self.hierarchical:
            return {"paragraph": self.sentence_encoder(vectors, para_lengths)}
        out = {}
        flat = None
        s = tf.shape(word_lengths)[0]
        if self.flat_context and isinstance(self.sentence_encoder, SequenceEncoder) and (
                use_packed(self.sentence_encoder.implementation)):
            # Sentences and whole paragraphs share ENC_w1 and the same words: one packed call
            # over both (the video tower does the same), each paragraph row reading the words
            # of its sentences (projected once at inference).
            lengths = tf.concat([word_lengths, para_lengths], 0)
            starts = tf.concat([tf.cumsum(word_lengths, exclusive=True),
                                tf.cumsum(para_lengths, exclusive=True)], 0)
            both = self.sentence_encoder(vectors, lengths, starts=starts)
            out["sentences"], flat = both[:s], both[s:]
        else:  # Keras' GRU and attention pad every row to the longest: sentences apart
            out["sentences"] = self.sentence_encoder(vectors, word_lengths)
            if self.flat_context:
                flat = self.sentence_encoder(vectors, para_lengths)
        if flat is not None:
            out["flat"] = flat
        context = {"context": (vectors, para_lengths)} if self.contextual else {}
        out["paragraph"] = self.paragraph_encoder(out["sentences"], sentence_counts,
                                                  initial_state=flat, **context)
        if self.reconstruct and decode:
            high = self.paragraph_decoder(out["paragraph"], sentence_counts)
            recon = tf.boolean_mask(high, tf.sequence_mask(sentence_counts, tf.shape(high)[1]))
            out.update(recon_high=recon, recon_low=self.sentence_decoder(recon, word_lengths),
                       words_padded=pad_rows(vectors, word_lengths),
                       word_lengths=word_lengths)
        return out

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "word_dim": self.word_dim,
                "hidden": self.hidden, "hierarchical": self.hierarchical,
                "flat_context": self.flat_context, "reconstruct": self.reconstruct,
                "gru_implementation": self.gru_implementation, "low_encoder": self.low_encoder,
                "high_encoder": self.high_encoder, "attention": self.attention}
