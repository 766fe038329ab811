"""Transformer sequence encoder: the attention alternative to SequenceEncoder, same interface."""

import keras
import tensorflow as tf

from hse_tf.layers.attention_config import DEFAULTS, POOLINGS, POSITIONS, as_before
from hse_tf.layers.ragged import pad_rows

MIN_BLOCK = 32  # the shortest block rows are packed into (AttentionEncoder._packed_call)
NEG = -1e9  # a masked key's score: its weight is exactly 0 after the softmax


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
    plus a mean), 'cls' (a learned token's output) or 'attention' (COOT's attention-aware
    feature aggregation: a two-layer perceptron scores every valid step once per head, a
    softmax over the row's steps weights them, and each head's share of the channels is its
    weighted sum).
    contextual (COOT's contextual attention, for the clip -> video and sentence -> paragraph
    level): every block also cross-attends from the row's steps to a context sequence, the
    whole video's frames (or the paragraph's words), passed as call(..., context=(values
    [N, S, context_dim] or [sum(S), context_dim], context_lengths [N])). The context first
    goes through `context_layers` Transformer blocks of its own (COOT's encoded context; 0:
    the projected frames or words as they are).
    width: the width the blocks run at (0: units). Otherwise the blocks, positions and pooling
    run at `width`, the context token is projected to it, and a projection maps each pooled
    [width] output to [units]: the arithmetic per step scales with width, not units.
    Defaults: hse_tf.layers.AttentionConfig.
    """

    def __init__(self, units, layers=DEFAULTS.layers, heads=DEFAULTS.heads,
                 ff_dim=DEFAULTS.ff_dim, dropout=DEFAULTS.dropout, positions=DEFAULTS.positions,
                 pooling=DEFAULTS.pooling, max_len=512, contextual=DEFAULTS.contextual,
                 context_dim=None, context_layers=DEFAULTS.context_layers,
                 ff_ratio=DEFAULTS.ff_ratio, width=DEFAULTS.width, **kwargs):
        super().__init__(**kwargs)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.width = int(width) or units  # the blocks' width; get_config keeps it
        if self.width % heads:
            raise ValueError(f"attention width {self.width} (--width over frames and words, "
                             f"--hidden over clips and sentences) must divide by --heads {heads}")
        self.units, self.num_layers, self.heads = units, layers, heads
        self.ff_dim = ff_dim or max(1, round(ff_ratio * self.width))  # get_config keeps it
        self.dropout, self.positions, self.pooling, self.max_len = (dropout, positions, pooling,
                                                                    max_len)
        w = self.width
        self.project = keras.layers.Dense(w, name="project")
        self.narrow = w != units  # then the context token and the output are projected
        if self.narrow:
            self.state_project = keras.layers.Dense(w, name="state_project")
            self.output_project = keras.layers.Dense(units, name="output_project")
        ln = keras.layers.LayerNormalization
        self.norm1 = [ln(epsilon=1e-6, name=f"norm1_{i}") for i in range(layers)]
        self.attention = [keras.layers.MultiHeadAttention(heads, w // heads, dropout=dropout,
                                                          name=f"attention_{i}")
                          for i in range(layers)]
        self.norm2 = [ln(epsilon=1e-6, name=f"norm2_{i}") for i in range(layers)]
        self.ff1 = [keras.layers.Dense(self.ff_dim, activation="gelu", name=f"ff1_{i}")
                    for i in range(layers)]
        self.ff2 = [keras.layers.Dense(w, name=f"ff2_{i}") for i in range(layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.drop = keras.layers.Dropout(dropout)
        if pooling == "attention":  # COOT's AF: scores per head from a two-layer perceptron
            self.pool_hidden = keras.layers.Dense(w, activation="gelu", use_bias=False,
                                                  name="pool_hidden")
            self.pool_scores = keras.layers.Dense(heads, use_bias=False, name="pool_scores")
        self.contextual, self.context_dim = bool(contextual), context_dim
        self.context_layers = int(context_layers) if self.contextual else 0
        if self.contextual:
            if not context_dim:
                raise ValueError(f"{self.name}: contextual attention needs the context's "
                                 f"feature size (context_dim)")
            self.context_project = keras.layers.Dense(w, name="context_project")
            self.norm_c = [ln(epsilon=1e-6, name=f"norm_context_{i}") for i in range(layers)]
            self.cross = [keras.layers.MultiHeadAttention(heads, w // heads, dropout=dropout,
                                                          name=f"context_attention_{i}")
                          for i in range(layers)]
            c = range(self.context_layers)  # the context's own blocks (encoded context)
            self.ctx_norm1 = [ln(epsilon=1e-6, name=f"context_norm1_{j}") for j in c]
            self.ctx_attention = [keras.layers.MultiHeadAttention(
                heads, w // heads, dropout=dropout, name=f"context_self_attention_{j}")
                for j in c]
            self.ctx_norm2 = [ln(epsilon=1e-6, name=f"context_norm2_{j}") for j in c]
            self.ctx_ff1 = [keras.layers.Dense(self.ff_dim, activation="gelu",
                                               name=f"context_ff1_{j}") for j in c]
            self.ctx_ff2 = [keras.layers.Dense(w, name=f"context_ff2_{j}") for j in c]
            if self.context_layers:
                self.ctx_final_norm = ln(epsilon=1e-6, name="context_final_norm")

    def build(self, input_shape):
        self.project.build((None, None, input_shape[-1]))
        shape = (None, None, self.width)
        if self.narrow:
            self.state_project.build((None, self.units))
            self.output_project.build((None, self.width))
        for i in range(self.num_layers):
            self._build_block(shape, self.norm1[i], self.attention[i], self.norm2[i],
                              self.ff1[i], self.ff2[i])
            if self.contextual:
                self.norm_c[i].build(shape)
                self.cross[i].build(shape, shape)
        if self.contextual:
            self.context_project.build((None, None, self.context_dim))
            for j in range(self.context_layers):
                self._build_block(shape, self.ctx_norm1[j], self.ctx_attention[j],
                                  self.ctx_norm2[j], self.ctx_ff1[j], self.ctx_ff2[j])
            if self.context_layers:
                self.ctx_final_norm.build(shape)
        if self.pooling == "attention":
            self.pool_hidden.build(shape)
            self.pool_scores.build(shape)
        self.final_norm.build(shape)
        if self.positions == "learned":
            self.position_table = self.add_weight(
                shape=(self.max_len + 2, self.width), initializer="glorot_uniform",
                name="positions")
        if self.pooling == "cls":
            self.cls = self.add_weight(shape=(self.width,), initializer="glorot_uniform",
                                       name="cls")
        self.built = True

    def _build_block(self, shape, norm1, attention, norm2, ff1, ff2):
        """Builds one pre-norm block's layers (the row's blocks and the context's alike)."""
        norm1.build(shape)
        attention.build(shape, shape)
        norm2.build(shape)
        ff1.build(shape)
        ff2.build((None, None, self.ff_dim))

    def _feed_forward(self, x, norm, ff1, ff2, training):
        """A block's second half: x + dropout(feed-forward(norm(x)))."""
        return x + self.drop(ff2(ff1(norm(x))), training=training)

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
        x = self.project(inputs)  # [N, T, width]
        n, dtype = tf.shape(x)[0], x.dtype
        valid = tf.sequence_mask(lengths, tf.shape(x)[1])  # the row's own steps
        prefix = []  # tokens before the steps: context (initial_state), then CLS
        if initial_state is not None:
            prefix.append(self._state_token(initial_state, dtype)[:, None, :])
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
            ctx, ctx_mask = self._context(context, steps, dtype, training)
        x = self._blocks(x, attend, training, ctx, ctx_mask)
        return self._out(self._padded_pool(x, valid, len(prefix), n, training))

    def _padded_pool(self, x, valid, p, n, training):
        """[N, p + T, width] -> [N, width]: pooled over each row's valid steps (or its CLS)."""
        if self.pooling == "cls":
            return x[:, p - 1]
        steps_only, own = x[:, p:], valid[:, p:]
        if self.pooling == "attention":
            scores = tf.where(own[..., None], self._pool_scores(steps_only, training), NEG)
            weights = tf.nn.softmax(scores, axis=1)  # [N, T, heads], over each row's steps
            heads = tf.reshape(steps_only, [n, tf.shape(steps_only)[1], self.heads, -1])
            return tf.reshape(tf.reduce_sum(heads * weights[..., None], 1), [n, self.width])
        mask = tf.cast(own, x.dtype)[..., None]
        mean = tf.reduce_sum(steps_only * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1)
        lowest = tf.constant(x.dtype.min, x.dtype)
        top = tf.reduce_max(tf.where(own[..., None], steps_only, lowest), 1)
        return mean + top

    def _state_token(self, initial_state, dtype):
        """The context token: initial_state [N, units], at the blocks' width."""
        state = tf.cast(initial_state, dtype)
        return self.state_project(state) if self.narrow else state

    def _out(self, pooled):
        """A pooled [N, width] output as the embedding [N, units]."""
        return self.output_project(pooled) if self.narrow else pooled

    def _pool_scores(self, x, training):
        """COOT's attention-aware pooling scores: [..., width] -> [..., heads]."""
        return self.pool_scores(self.drop(self.pool_hidden(x), training=training))

    def _position_table(self, steps):
        """[steps, width] position encodings (sinusoidal, or the learned table's first rows)."""
        if self.positions == "sinusoidal":
            return sinusoidal(steps, self.width)
        tf.debugging.assert_less_equal(
            steps, self.max_len + 2,
            message=f"{self.name}: a sequence is longer than max_len={self.max_len}")
        return self.position_table[:steps]

    def _blocks(self, x, attend, training, ctx=None, ctx_mask=None, slots=None, token_slot=None):
        """The Transformer blocks and the final norm. Padded: x [R, T, width], attention masked
        by attend [R, T, T]. Packed (slots given): x [M, width] holds the real tokens only,
        attend [B, L, L] masks blocks of L slots, slots [B * L] names each slot's token (M: an
        empty slot) and token_slot [M] each token's slot; only attention itself runs on the
        blocks, every per-token layer on the M tokens."""
        bias = tf.cast(tf.where(attend, 0.0, NEG)[:, None], x.dtype)  # [R, 1, T, T], every head
        for i in range(self.num_layers):
            h = self.norm1[i](x)
            x = x + self.drop(self._self_attention(i, h, bias, training, slots, token_slot),
                              training=training)
            if self.contextual:
                h = self.norm_c[i](x)
                x = x + self.drop(self.cross[i](h, ctx, attention_mask=ctx_mask,
                                                training=training), training=training)
            x = self._feed_forward(x, self.norm2[i], self.ff1[i], self.ff2[i], training)
        return self.final_norm(x)

    def _self_attention(self, i, x, bias, training, slots=None, token_slot=None):
        """Block i's self-attention with its MultiHeadAttention's weights (the same maths as
        calling that layer): one product for queries, keys and values, the mask as an additive
        bias [R, 1, T, T] shared by every head, batched products per block of T slots. Packed
        (see _blocks): the products of tokens run on the tokens, and only the scores, softmax
        and weighted values on the blocks."""
        mha = self.attention[i]
        q, k, v, o = mha._query_dense, mha._key_dense, mha._value_dense, mha._output_dense
        width, heads, dtype = self.width, self.heads, x.dtype
        size = width // heads
        kernel = tf.cast(tf.reshape(tf.concat([q.kernel, k.kernel, v.kernel], 1), [width, -1]),
                         dtype)  # [W, 3 * W]: queries, keys, values of every head
        b = tf.cast(tf.reshape(tf.concat([q.bias, k.bias, v.bias], 0), [-1]), dtype)
        qkv = tf.matmul(tf.reshape(x, [-1, width]), kernel) + b  # [tokens, 3W]
        if slots is not None:  # tokens -> block slots; an empty slot reads zeros
            qkv = tf.gather(tf.concat([qkv, tf.zeros([1, 3 * width], dtype)], 0), slots)
        r, t = tf.shape(bias)[0], tf.shape(bias)[2]
        qkv = tf.reshape(qkv, [r, t, 3, heads, size])
        q, k, v = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]))  # each [R, H, T, S]
        scores = tf.matmul(q * (1.0 / size ** 0.5), k, transpose_b=True) + bias
        probs = self.drop(tf.nn.softmax(scores), training=training)
        out = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [-1, width])
        if slots is not None:  # block slots -> tokens
            out = tf.gather(out, token_slot)
        out = tf.matmul(out, tf.cast(tf.reshape(o.kernel, [width, width]), dtype))
        return tf.reshape(out + tf.cast(o.bias, dtype), tf.shape(x))

    def _packed_call(self, values, lengths, initial_state, training, starts):
        """The same computation without padding: only attention runs on blocks of slots.

        Each row's tokens (its context token and CLS token, then its steps) are placed back to
        back in blocks of `block` slots (`block` = the longest row, at least MIN_BLOCK), rows
        longest first, a new block when the next row does not fit (next-fit). Attention is
        masked to the row's own tokens (a block-diagonal mask by segment id) and positions
        count from each row's start. The projections, feed-forward layers, norms and pooling
        run on the real tokens ([tokens, width], no empty slot); queries, keys and values are
        gathered into the blocks for the scores and gathered back after: a row's output is
        the padded computation's, up to float rounding.
        (Blocks of several sizes, each row in the smallest that holds it, were measured
        slower on 2 CPU cores: one block stack per size costs more than the shorter blocks
        save; docs/encoders.md.)
        """
        lengths = tf.cast(lengths, tf.int32)
        x = self.project(values)  # [V, width]: each value projected once
        if starts is not None:  # rows back to back (they may share values)
            shift = tf.cast(starts, tf.int32) - tf.cumsum(lengths, exclusive=True)
            x = tf.gather(x, tf.repeat(shift, lengths) + tf.range(tf.reduce_sum(lengths)))
        dtype, n = x.dtype, tf.shape(lengths)[0]
        prefix = []
        if initial_state is not None:
            prefix.append(self._state_token(initial_state, dtype))
        if self.pooling == "cls":
            prefix.append(tf.cast(tf.tile(self.cls[None, :], [n, 1]), dtype))
        p = len(prefix)
        tokens = lengths + p
        block = tf.maximum(tf.reduce_max(tf.concat([tokens, [0]], 0)), MIN_BLOCK)
        first, blocks = pack_rows(tokens, block)  # each row's first slot; number of blocks
        slots = blocks * block
        row = tf.repeat(tf.range(n), lengths)  # the row of each step
        within = tf.range(tf.shape(row)[0]) - tf.gather(tf.cumsum(lengths, exclusive=True), row)
        # tokens: the prefix tokens (p x n, token k of row i at k * n + i), then the steps
        token_slot = tf.concat([first + k for k in range(p)] + [
            tf.gather(first, row) + p + within], 0)
        count = tf.shape(token_slot)[0]
        slot_token = tf.scatter_nd(token_slot[:, None], tf.range(count) + 1, [slots]) - 1
        slot_token = tf.where(slot_token < 0, count, slot_token)  # count: an empty slot
        segment = tf.scatter_nd(token_slot[:, None], tf.concat([tf.range(n)] * p + [row], 0)
                                + 1, [slots]) - 1  # -1: an empty slot
        position = tf.concat([tf.fill([n], k) for k in range(p)] + [within + p], 0)
        x = tf.concat(prefix + [x], 0)
        x += tf.cast(tf.gather(self._position_table(tf.reduce_max(tokens)), position), dtype)
        segment = tf.reshape(segment, [blocks, block])
        same = tf.equal(segment[:, :, None], segment[:, None, :]) & (segment[:, None, :] >= 0)
        attend = same | tf.eye(block, dtype=tf.bool)[None]  # empty slots attend to themselves
        x = self._blocks(x, attend, training, slots=slot_token, token_slot=token_slot)
        return self._out(self._packed_pool(x, row, lengths, p, n, training))

    def _packed_pool(self, x, row, lengths, p, n, training):
        """Tokens [p * n + steps, width] -> [N, width]: each row's steps pooled (or its CLS)."""
        dtype = x.dtype
        if self.pooling == "cls":
            return x[(p - 1) * n:p * n]
        own = x[p * n:]
        if self.pooling == "attention":  # a softmax over each row's steps, per head
            scores = self._pool_scores(own, training)  # [steps, heads]
            scores -= tf.gather(tf.math.unsorted_segment_max(scores, row, n), row)
            e = tf.exp(scores)
            weights = e / tf.gather(tf.math.unsorted_segment_sum(e, row, n), row)
            heads = tf.reshape(own, [-1, self.heads, self.width // self.heads])
            pooled = tf.math.unsorted_segment_sum(heads * weights[..., None], row, n)
            return tf.reshape(pooled, [n, self.width])
        count = tf.cast(tf.maximum(lengths, 1), dtype)[:, None]
        mean = tf.math.unsorted_segment_sum(own, row, n) / count
        return mean + tf.math.unsorted_segment_max(own, row, n)

    def _context(self, context, steps, dtype, training=None):
        """(the context [N, S, width]: projected, with positions, through its own blocks; the
        cross-attention mask [N, steps, S])."""
        if context is None:
            raise ValueError(f"{self.name}: contextual attention needs context=(values, lengths)")
        values, lengths = context
        lengths = tf.cast(lengths, tf.int32)
        if values.shape.rank == 2:
            values = pad_rows(values, lengths)
        ctx = self.context_project(tf.cast(values, dtype))
        ctx = ctx + tf.cast(sinusoidal(tf.shape(ctx)[1], self.width), dtype)[None]
        ctx_valid = tf.sequence_mask(lengths, tf.shape(ctx)[1])
        if self.context_layers:
            among = tf.tile(ctx_valid[:, None, :], [1, tf.shape(ctx)[1], 1])
            for j in range(self.context_layers):
                h = self.ctx_norm1[j](ctx)
                ctx = ctx + self.drop(self.ctx_attention[j](h, h, attention_mask=among,
                                                            training=training),
                                      training=training)
                ctx = self._feed_forward(ctx, self.ctx_norm2[j], self.ctx_ff1[j],
                                         self.ctx_ff2[j], training)
            ctx = self.ctx_final_norm(ctx)
        return ctx, tf.tile(ctx_valid[:, None, :], [1, steps, 1])

    @classmethod
    def from_config(cls, config):
        config = as_before(config)  # a layer saved before an option
        config.pop("width_ratio")  # the model's: a layer stores its width (0: units, as before)
        return super().from_config(config)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "layers": self.num_layers,
                "heads": self.heads, "ff_dim": self.ff_dim, "dropout": self.dropout,
                "positions": self.positions, "pooling": self.pooling, "max_len": self.max_len,
                "contextual": self.contextual, "context_dim": self.context_dim,
                "context_layers": self.context_layers, "width": self.width}
