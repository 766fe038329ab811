"""Transformer sequence encoder: the attention alternative to SequenceEncoder, same interface."""

import keras
import tensorflow as tf

from hse_tf.layers.ragged import pad_rows

POSITIONS = ("sinusoidal", "learned")
MIN_BLOCK = 32  # the shortest block rows are packed into (AttentionEncoder._packed_call)
POOLINGS = ("mean_max", "cls")


def sinusoidal(length, dim):
    """[length, dim] sine/cosine positions (Vaswani et al. 2017)."""
    pos = tf.cast(tf.range(length), tf.float32)[:, None]
    i = tf.cast(tf.range(dim // 2), tf.float32)[None, :]
    angle = pos / tf.pow(10000.0, 2.0 * i / float(dim))
    table = tf.concat([tf.sin(angle), tf.cos(angle)], axis=-1)
    return tf.pad(table, [[0, 0], [0, dim - 2 * (dim // 2)]])


def pack_rows(tokens, block):
    """Next-fit packing of rows of `tokens` [N] slots into blocks of `block` slots (block >=
    every row), longest row first. Returns (the first slot of each row, in input order [N],
    the number of blocks)."""
    tokens = tf.cast(tokens, tf.int32)
    order = tf.argsort(tokens, direction="DESCENDING", stable=True)

    def place(state, size):  # state: (block, slots used in it, this row's first slot)
        b, used, _ = state
        fits = used + size <= block
        b = tf.where(fits, b, b + 1)
        start = tf.where(fits, used, 0)
        return b, start + size, b * block + start

    zero = tf.constant(0, tf.int32)
    blocks, _, first = tf.scan(place, tf.gather(tokens, order), initializer=(zero, zero, zero))
    first = tf.scatter_nd(order[:, None], first, tf.shape(tokens))
    return first, tf.reduce_max(tf.concat([blocks, [-1]], 0)) + 1


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
        if inputs.shape.rank == 2 and not self.contextual:
            return self._packed_call(inputs, lengths, initial_state, training, starts)
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
        x = x + tf.cast(self._position_table(steps), dtype)[None]
        # Every query attends to its row's valid keys only: padding keys never reach a real
        # step, and padded query steps (discarded below) still see valid keys (no NaN).
        attend = tf.tile(valid[:, None, :], [1, steps, 1])
        ctx = ctx_mask = None
        if self.contextual:
            ctx, ctx_mask = self._context(context, steps, dtype)
        x = self._blocks(x, attend, training, ctx, ctx_mask)
        if self.pooling == "cls":
            return x[:, len(prefix) - 1]
        steps_only = x[:, len(prefix):]
        own = valid[:, len(prefix):]
        mask = tf.cast(own, x.dtype)[..., None]
        mean = tf.reduce_sum(steps_only * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1)
        lowest = tf.constant(x.dtype.min, x.dtype)
        top = tf.reduce_max(tf.where(own[..., None], steps_only, lowest), 1)
        return mean + top

    def _position_table(self, steps):
        """[steps, units] position encodings (sinusoidal, or the learned table's first rows)."""
        if self.positions == "sinusoidal":
            return sinusoidal(steps, self.units)
        tf.debugging.assert_less_equal(
            steps, self.max_len + 2,
            message=f"{self.name}: a sequence is longer than max_len={self.max_len}")
        return self.position_table[:steps]

    def _blocks(self, x, attend, training, ctx=None, ctx_mask=None):
        """The Transformer blocks and the final norm over x [R, T, units], attention masked by
        attend [R, T, T]."""
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
        return self.final_norm(x)

    def _packed_call(self, values, lengths, initial_state, training, starts):
        """The same computation on rows packed into blocks instead of padded to the longest.

        Each row's tokens (its context token and CLS token, then its steps) are placed back to
        back in blocks of `block` slots (`block` = the longest row, at least MIN_BLOCK), rows
        longest first, a new block when the next row does not fit (next-fit). Attention is
        masked to the row's own tokens (a block-diagonal mask by segment id), positions count
        from each row's start, and pooling reads each row's own steps: a row's output is the
        padded computation's, up to float rounding, while the projections, feed-forward layers
        and attention run on about the real tokens instead of rows x the longest row.
        (Blocks of several sizes, each row in the smallest that holds it, were measured
        slower on 2 CPU cores: one block stack per size costs more than the shorter blocks
        save; docs/encoders.md.)
        """
        lengths = tf.cast(lengths, tf.int32)
        if starts is not None:  # rows back to back first (they may overlap in `values`)
            shift = tf.cast(starts, tf.int32) - tf.cumsum(lengths, exclusive=True)
            values = tf.gather(values, tf.repeat(shift, lengths) + tf.range(
                tf.reduce_sum(lengths)))
        x = self.project(values)  # [V, units]: each real step projected once
        dtype, n = x.dtype, tf.shape(lengths)[0]
        prefix = []
        if initial_state is not None:
            prefix.append(tf.cast(initial_state, dtype))
        if self.pooling == "cls":
            prefix.append(tf.cast(tf.tile(self.cls[None, :], [n, 1]), dtype))
        p = len(prefix)
        tokens = lengths + p
        block = tf.maximum(tf.reduce_max(tf.concat([tokens, [0]], 0)), MIN_BLOCK)
        first, blocks = pack_rows(tokens, block)  # each row's first slot; number of blocks
        slots = blocks * block
        row = tf.repeat(tf.range(n), lengths)  # the row of each step
        within = tf.range(tf.shape(row)[0]) - tf.gather(tf.cumsum(lengths, exclusive=True), row)
        step_slot = tf.gather(first, row) + p + within
        prefix_slot = [first + k for k in range(p)]
        every_slot = tf.concat(prefix_slot + [step_slot], 0)[:, None]
        packed = tf.scatter_nd(every_slot, tf.concat(prefix + [x], 0),
                               tf.stack([slots, self.units]))
        segment = tf.scatter_nd(every_slot, tf.concat([tf.range(n)] * p + [row], 0) + 1,
                                [slots]) - 1  # -1: an empty slot
        position = tf.scatter_nd(every_slot, tf.concat(
            [tf.fill([n], k) for k in range(p)] + [within + p], 0), [slots])
        table = self._position_table(tf.reduce_max(tokens))
        packed += tf.cast(tf.gather(table, position), dtype)
        segment = tf.reshape(segment, [blocks, block])
        same = tf.equal(segment[:, :, None], segment[:, None, :]) & (segment[:, None, :] >= 0)
        attend = same | tf.eye(block, dtype=tf.bool)[None]  # empty slots attend to themselves
        x = self._blocks(tf.reshape(packed, [blocks, block, self.units]), attend, training)
        x = tf.reshape(x, [slots, self.units])
        if self.pooling == "cls":
            return tf.gather(x, prefix_slot[-1])
        own = tf.gather(x, step_slot)
        count = tf.cast(tf.maximum(lengths, 1), dtype)[:, None]
        mean = tf.math.unsorted_segment_sum(own, row, n) / count
        return mean + tf.math.unsorted_segment_max(own, row, n)

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
