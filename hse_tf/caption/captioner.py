"""Captioning head: a 2-layer LSTM decoder conditioned on [clip embedding ; video embedding].

Training uses teacher forcing (`call`); decoding is beam search (or greedy, beam 1) written in
TensorFlow ops (`decode`), so it exports into a SavedModel.
"""

import keras
import tensorflow as tf

from hse_tf.data.vocabulary import PAD, UNK

BOS, EOS = "<bos>", "<eos>"
PAD_ID, BOS_ID, EOS_ID = 0, 2, 3


def caption_words(vocab_words):
    """The caption vocabulary's word list: pad, unk, <bos>, <eos>, then the words."""
    return [PAD, UNK, BOS, EOS] + [w for w in vocab_words if w not in (PAD, UNK, BOS, EOS)]


@keras.saving.register_keras_serializable(package="hse_tf")
class Captioner(keras.Model):
    def __init__(self, vocab_size, cond_dim, word_dim=300, hidden=512, num_layers=2, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.cond_dim, self.word_dim = vocab_size, cond_dim, word_dim
        self.hidden, self.num_layers = hidden, num_layers
        self.init_state = keras.layers.Dense(2 * hidden * num_layers, activation="tanh",
                                             name="init_state")
        self.embedding = keras.layers.Embedding(vocab_size, word_dim, name="word_embedding")
        self.lstms = [keras.layers.LSTM(hidden, return_sequences=True, name=f"lstm_{i}")
                      for i in range(num_layers)]
        self.out = keras.layers.Dense(vocab_size, name="logits")

    def _states(self, condition):
        s = tf.split(self.init_state(condition), 2 * self.num_layers, axis=-1)
        return [[s[2 * i], s[2 * i + 1]] for i in range(self.num_layers)]

    def call(self, inputs, training=False):
        """{'condition' [B, C], 'tokens' [B, L] (<bos> w1 .. wn, 0-padded)} -> logits [B, L, V]."""
        x = self.embedding(inputs["tokens"])
        mask = tf.not_equal(inputs["tokens"], PAD_ID)
        for lstm, state in zip(self.lstms, self._states(inputs["condition"])):
            x = lstm(x, initial_state=state, mask=mask, training=training)
        return self.out(x)

    def decode(self, condition, beam=5, max_len=30, length_penalty=0.0):
        """Beam search: condition [B, C] -> (token ids [B, max_len] (0 after <eos>), lengths [B],
        log-probability of each chosen caption including its <eos> [B]).

        Scores are summed log-probabilities; with length_penalty a > 0 the final choice divides
        them by length**a. beam=1 is greedy decoding.
        """
        b = tf.shape(condition)[0]
        k, v = beam, self.vocab_size
        states = [[tf.repeat(h, k, axis=0), tf.repeat(c, k, axis=0)]
                  for h, c in self._states(condition)]  # [B*K, H]
        neg_inf = tf.constant(-1e9)
        scores = tf.tile(tf.concat([[0.0], tf.fill([k - 1], neg_inf)], 0)[None], [b, 1])  # [B, K]
        tokens = tf.fill([b * k], BOS_ID)
        history = tf.zeros([b, k, max_len], tf.int32)  # fixed shape: column t set at step t
        done = tf.zeros([b, k], tf.bool)
        lengths = tf.zeros([b, k], tf.int32)
        eos_only = tf.one_hot(EOS_ID, v, on_value=0.0, off_value=-1e9)  # a finished beam stays put

        def step(t, tokens, states, scores, history, done, lengths):
            tokens_in, states_in, scores_in, history_in = tokens, states, scores, history
            done_in, lengths_in = done, lengths
            x = self.embedding(tokens)
            new_states = []
            for lstm, (h, c) in zip(self.lstms, states):
                x, (h, c) = lstm.cell(x, [h, c], training=False)
                new_states.append([h, c])
            logp = tf.nn.log_softmax(self.out(x))  # [B*K, V]
            logp = tf.where(tf.reshape(done, [-1, 1]), eos_only[None], logp)
            total = tf.reshape(scores[:, :, None] + tf.reshape(logp, [b, k, v]), [b, k * v])
            scores, flat = tf.math.top_k(total, k)  # [B, K]
            parent = flat // v
            word = tf.cast(flat % v, tf.int32)
            gather = lambda x: tf.gather(x, parent, batch_dims=1)  # noqa: E731
            was_done = gather(done)
            column = tf.one_hot(t, max_len, dtype=tf.int32)[None, None]
            history = gather(history) + column * tf.where(was_done, 0, word)[:, :, None]
            lengths = tf.where(was_done, gather(lengths), gather(lengths) + 1)
            done = was_done | tf.equal(word, EOS_ID)
            rows = tf.reshape(parent + tf.range(b)[:, None] * k, [-1])
            # Keep the loop variables' static shapes (gathers lose them; the loop needs them).
            same = lambda new, old: tf.ensure_shape(new, old.shape)  # noqa: E731
            states = [[same(tf.gather(h1, rows), h0), same(tf.gather(c1, rows), c0)]
                      for (h1, c1), (h0, c0) in zip(new_states, states_in)]
            return (t + 1, same(tf.reshape(word, [-1]), tokens_in), states,
                    same(scores, scores_in), same(history, history_in), same(done, done_in),
                    same(lengths, lengths_in))

        _, _, _, scores, history, done, lengths = tf.while_loop(
            lambda t, tokens, states, scores, history, done, lengths:
                (t < max_len) & ~tf.reduce_all(done),
            step, [0, tokens, states, scores, history, done, lengths])
        final = scores
        if length_penalty:
            final = scores / tf.pow(tf.cast(tf.maximum(lengths, 1), tf.float32), length_penalty)
        best = tf.argmax(final, axis=1, output_type=tf.int32)
        ids = tf.gather(history, best, batch_dims=1)  # [B, T]
        # <eos> and what follows become padding; length counts the words only.
        ids = tf.where(tf.equal(ids, EOS_ID), 0, ids)
        ids = tf.where(tf.cumsum(tf.cast(tf.equal(ids, 0), tf.int32), axis=1) > 0, 0, ids)
        return (ids, tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1),
                tf.gather(scores, best, batch_dims=1))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "cond_dim": self.cond_dim,
                "word_dim": self.word_dim, "hidden": self.hidden, "num_layers": self.num_layers}


def ids_to_text(ids, words):
    """Token ids [B, T] (0-padded) -> captions [B] as Python strings."""
    return [" ".join(words[i] for i in row if i > 0) for row in ids]


def tf_ids_to_text(ids, words):
    """In-graph version: [B, T] int -> [B] string (words joined by spaces)."""
    table = tf.constant(words)
    tokens = tf.ragged.boolean_mask(tf.gather(table, ids), ids > 0)
    return tf.strings.reduce_join(tokens, axis=1, separator=" ")
