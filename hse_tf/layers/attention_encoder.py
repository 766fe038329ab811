"""Transformer sequence encoder: the attention alternative to SequenceEncoder, same interface."""

import keras
import tensorflow as tf

from hse_tf.layers.ragged import pad_rows

POSITIONS = ("sinusoidal", "learned")
POOLINGS = ("mean_max", "cls")


def sinusoidal(length, dim):
    """[length, dim] sine/cosine positions (Vaswani et al. 2017)."""
    pos = tf.cast(tf.range(length), tf.float32)[:, None]
    i = tf.cast(tf.range(dim // 2), tf.float32)[None, :]
    angle = pos / tf.pow(10000.0, 2.0 * i / float(dim))
    table = tf.concat([tf.sin(angle), tf.cos(angle)], axis=-1)
    return tf.pad(table, [[0, 0], [0, dim - 2 * (dim // 2)]])


@keras.saving.register_keras_serializable(package="hse_tf")
class AttentionEncoder(keras.layers.Layer):
    """Pre-norm Transformer blocks (keras.layers.MultiHeadAttention, a feed-forward layer,
    dropout) over one sequence per row, pooled to one [units] embedding per row.

    Same call as SequenceEncoder: call(inputs, lengths [N], initial_state [N, units] or None,
    starts [N] or None) -> [N, units], inputs padded [N, T, D] or the rows' values [V, D].
    Padding never changes a real row's output: keys beyond a row's length are masked out, and
    pooling reads valid steps only. `initial_state` (HSE's flat context, a GRU's initial state)
    becomes a context token before the row's first step, which every step may attend to.

    positions: 'sinusoidal' (any length) or 'learned' (up to max_len steps).
    pooling: 'mean_max' (mean + channel-wise max over the valid steps, the GRU encoder's max
    plus a mean) or 'cls' (a learned token's output).
    contextual (COOT's contextual attention, for the clip -> video and sentence -> paragraph
    level): every block also cross-attends from the row's steps to a context sequence, the
    whole video's frames (or the paragraph's words), passed as call(..., context=(values
    [N, S, context_dim] or [sum(S), context_dim], context_lengths [N])).
    """

    def __init__(self, units, layers=1, heads=4, ff_dim=0, dropout=0.1, positions="sinusoidal",
                 pooling="mean_max", max_len=512, contextual=False, context_dim=None, **kwargs):
        super().__init__(**kwargs)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if units % heads:
            raise ValueError(f"hidden size {units} must divide by --heads {heads}")
        self.units, self.num_layers, self.heads = units, layers, heads
        self.ff_dim = ff_dim or 2 * units
        self.dropout, self.positions, self.pooling, self.max_len = (dropout, positions, pooling,
                                                                    max_len)
        self.project = keras.layers.Dense(units, name="project")
        ln = keras.layers.LayerNormalization
        self.norm1 = [ln(epsilon=1e-6, name=f"norm1_{i}") for i in range(layers)]
        self.attention = [keras.layers.MultiHeadAttention(heads, units // heads, dropout=dropout,
                                                          name=f"attention_{i}")
                          for i in range(layers)]
        self.norm2 = [ln(epsilon=1e-6, name=f"norm2_{i}") for i in range(layers)]
        self.ff1 = [keras.layers.Dense(self.ff_dim, activation="gelu", name=f"ff1_{i}")
                    for i in range(layers)]
        self.ff2 = [keras.layers.Dense(units, name=f"ff2_{i}") for i in range(layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.drop = keras.layers.Dropout(dropout)
        self.contextual, self.context_dim = bool(contextual), context_dim
        if self.contextual:
            if not context_dim:
                raise ValueError(f"{self.name}: contextual attention needs the context's "
                                 f"feature size (context_dim)")
            self.context_project = keras.layers.Dense(units, name="context_project")
            self.norm_c = [ln(epsilon=1e-6, name=f"norm_context_{i}") for i in range(layers)]
            self.cross = [keras.layers.MultiHeadAttention(heads, units // heads, dropout=dropout,
                                                          name=f"context_attention_{i}")
                          for i in range(layers)]

    def build(self, input_shape):
        self.project.build((None, None, input_shape[-1]))
        shape = (None, None, self.units)
        for i in range(self.num_layers):
            self.norm1[i].build(shape)
            self.attention[i].build(shape, shape)
            self.norm2[i].build(shape)
            self.ff1[i].build(shape)
            self.ff2[i].build((None, None, self.ff_dim))
            if self.contextual:
                self.norm_c[i].build(shape)
                self.cross[i].build(shape, shape)
        if self.contextual:
            self.context_project.build((None, None, self.context_dim))
        self.final_norm.build(shape)
        if self.positions == "learned":
            self.position_table = self.add_weight(
                shape=(self.max_len + 2, self.units), initializer="glorot_uniform",
                name="positions")
        if self.pooling == "cls":
            self.cls = self.add_weight(shape=(self.units,), initializer="glorot_uniform",
                                       name="cls")
        self.built = True

    def call(self, inputs, lengths, initial_state=None, training=None, starts=None,
             context=None):
        if starts is not None and inputs.shape.rank != 2:
            raise ValueError(f"{self.name}: starts index values [V, D]; got inputs of shape "
                             f"{inputs.shape} (padded rows already start at 0)")
        if inputs.shape.rank == 2:
            inputs = pad_rows(inputs, lengths, starts)
        lengths = tf.cast(lengths, tf.int32)
        x = self.project(inputs)  # [N, T, units]
        n, dtype = tf.shape(x)[0], x.dtype
        valid = tf.sequence_mask(lengths, tf.shape(x)[1])  # the row's own steps
        prefix = []  # tokens before the steps: context (initial_state), then CLS
        if initial_state is not None:
            prefix.append(tf.cast(initial_state, dtype)[:, None, :])
        if self.pooling == "cls":
            prefix.append(tf.cast(tf.tile(self.cls[None, None, :], [n, 1, 1]), dtype))
        if prefix:
            x = tf.concat(prefix + [x], axis=1)
            valid = tf.concat([tf.ones([n, len(prefix)], tf.bool), valid], axis=1)
        steps = tf.shape(x)[1]
        if self.positions == "sinusoidal":
            x = x + tf.cast(sinusoidal(steps, self.units), dtype)[None]
        else:
            tf.debugging.assert_less_equal(
                steps, self.max_len + 2,
                message=f"{self.name}: a sequence is longer than max_len={self.max_len}")
            x = x + tf.cast(self.position_table[:steps], dtype)[None]
        # Every query attends to its row's valid keys only: padding keys never reach a real
        # step, and padded query steps (discarded below) still see valid keys (no NaN).
        attend = tf.tile(valid[:, None, :], [1, steps, 1])
        if self.contextual:
            ctx, ctx_mask = self._context(context, steps, dtype)
        for i in range(self.num_layers):
            h = self.norm1[i](x)
            x = x + self.drop(self.attention[i](h, h, attention_mask=attend, training=training),
                              training=training)
            if self.contextual:
                h = self.norm_c[i](x)
                x = x + self.drop(self.cross[i](h, ctx, attention_mask=ctx_mask,
                                                training=training), training=training)
            h = self.norm2[i](x)
            x = x + self.drop(self.ff2[i](self.ff1[i](h)), training=training)
        x = self.final_norm(x)
        if self.pooling == "cls":
            return x[:, len(prefix) - 1]
        steps_only = x[:, len(prefix):]
        own = valid[:, len(prefix):]
        mask = tf.cast(own, x.dtype)[..., None]
        mean = tf.reduce_sum(steps_only * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1)
        lowest = tf.constant(x.dtype.min, x.dtype)
        top = tf.reduce_max(tf.where(own[..., None], steps_only, lowest), 1)
        return mean + top

    def _context(self, context, steps, dtype):
        """(projected context [N, S, units] with positions, cross-attention mask [N, steps, S])."""
        if context is None:
            raise ValueError(f"{self.name}: contextual attention needs context=(values, lengths)")
        values, lengths = context
        lengths = tf.cast(lengths, tf.int32)
        if values.shape.rank == 2:
            values = pad_rows(values, lengths)
        ctx = self.context_project(tf.cast(values, dtype))
        ctx = ctx + tf.cast(sinusoidal(tf.shape(ctx)[1], self.units), dtype)[None]
        ctx_valid = tf.sequence_mask(lengths, tf.shape(ctx)[1])
        return ctx, tf.tile(ctx_valid[:, None, :], [1, steps, 1])

    def get_config(self):
        return {**super().get_config(), "units": self.units, "layers": self.num_layers,
                "heads": self.heads, "ff_dim": self.ff_dim, "dropout": self.dropout,
                "positions": self.positions, "pooling": self.pooling, "max_len": self.max_len,
                "contextual": self.contextual, "context_dim": self.context_dim}
