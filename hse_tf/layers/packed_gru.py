"""A GRU over packed sequences for CPUs: no step is computed for padding, and the backward pass
runs one matrix product per step, with the weight gradients taken afterwards in one product each.

Keras' GRU (outside cuDNN) computes every row at every step up to the longest row, padding
included, and differentiates its loop step by step: four small products per step backwards. On
ActivityNet-shaped batches a third of the clip GRU's steps and two thirds of the paragraph GRU's
steps are padding. Here the rows are sorted by length (longest first), so at step t the rows still
running are the first `active[t]`, and only those are computed, as PyTorch's PackedSequence does.

The maths is Keras' GRU with reset_after=True (the cuDNN form), gates in Keras' order z, r, n:
    z = sigmoid(x W_z + b_z + h U_z + c_z)        r = sigmoid(x W_r + b_r + h U_r + c_r)
    n = tanh(x W_n + b_n + r * (h U_n + c_n))     h' = z * h + (1 - z) * n
with kernel W, recurrent kernel U, bias [b; c] exactly as Keras stores them, so checkpoints and
exports are unchanged. tests/test_packed_gru.py checks outputs, every gradient and the first
training steps against Keras' GRU.

Packed layout: the valid (step, row) pairs in step-major order over the sorted rows, i.e. for
step t the rows 0..active[t]-1; position offsets[t] + i.
"""

import tensorflow as tf


class Packing:
    """Index bookkeeping for rows of `lengths` (each >= 1), computed once per call in the graph."""

    def __init__(self, lengths):
        lengths = tf.cast(lengths, tf.int32)
        self.rows = tf.shape(lengths)[0]
        self.order = tf.argsort(-lengths, stable=True)  # sorted position -> original row
        sorted_lengths = tf.gather(lengths, self.order)
        self.steps = tf.reduce_max(tf.concat([sorted_lengths, [0]], 0))  # 0 for no rows
        grid = sorted_lengths[None, :] > tf.range(self.steps)[:, None]  # [T, N]
        self.active = tf.reduce_sum(tf.cast(grid, tf.int32), axis=1)  # [T]
        self.offsets = tf.concat([[0], tf.cumsum(self.active)], 0)  # [T + 1]
        pairs = tf.cast(tf.where(grid), tf.int32)  # [S, 2] (t, sorted row), step-major
        self.step, self.sorted_row = pairs[:, 0], pairs[:, 1]
        self.row = tf.gather(self.order, self.sorted_row)  # original row of each position

    def pack(self, inputs, lengths):
        """Padded [N, T, D] (right-padded) or values [sum(lengths), D] (rows back to back), in
        original row order -> [S, D] packed."""
        if inputs.shape.rank == 2:
            lengths = tf.cast(lengths, tf.int32)
            starts = tf.cumsum(lengths, exclusive=True)
            return tf.gather(inputs, tf.gather(starts, self.row) + self.step)
        return tf.gather_nd(inputs, tf.stack([self.row, self.step], axis=1))

    def unpack(self, packed, max_steps):
        """[S, D] packed -> [N, max_steps, D], original row order, zeros after each row."""
        shape = tf.concat([[self.rows, max_steps], tf.shape(packed)[1:]], 0)
        return tf.scatter_nd(tf.stack([self.row, self.step], axis=1), packed, shape)

    def max_pool(self, packed):
        """Channel-wise max over each row's valid steps: [S, D] -> [N, D], original row order."""
        return tf.math.unsorted_segment_max(packed, self.row, self.rows)

    def previous(self, h0_sorted, outputs):
        """The state each packed position started from: h0 at step 0, else the same row's output
        one step earlier (rows only ever stop, so it is at offsets[t - 1] + i)."""
        n = tf.shape(h0_sorted)[0]
        prev_offsets = tf.gather(self.offsets, tf.maximum(self.step - 1, 0))
        index = tf.where(self.step == 0, self.sorted_row, n + prev_offsets + self.sorted_row)
        return tf.gather(tf.concat([h0_sorted, outputs], 0), index)


def _step_array(dtype, width, steps):
    """One [active[t], width] tensor per step."""
    return tf.TensorArray(dtype, size=steps, infer_shape=False,
                          element_shape=tf.TensorShape([None, width]))


def _split_steps(packed, active, steps):
    return _step_array(packed.dtype, packed.shape[-1], steps).split(packed, active)


def _replace_head(x, head):
    """x with its first len(head) rows replaced by head; the same (static) shape as x."""
    out = tf.concat([head, x[tf.shape(head)[0]:]], 0)
    out.set_shape(x.shape)
    return out


def _column_sum(x):
    # A product with a ones row: TensorFlow's column reduction of a tall matrix is far slower.
    return tf.matmul(tf.ones([1, tf.shape(x)[0]], x.dtype), x)[0]


# Gates are kept apart (z, r, n), each with its own [*, H] tensors: slicing a [k, 3H] product
# into gates copies it every step (tf.split took 12% of a training step). Splitting the weights
# instead copies them once per call, which small inference calls avoid; see `run`.


def per_gate_products(kernels, biases):
    """h -> (h U_z + c_z, h U_r + c_r, h U_n + c_n) with the kernels split per gate."""
    return lambda h: [tf.matmul(h, u) + c for u, c in zip(kernels, biases)]


def row_half_products(kernel, bias):
    """The same with U [H, 3H] kept whole: its two row halves are views, not copies, and their
    two products run side by side; only the small [k, 3H] result is split per gate."""
    rows = kernel.shape[0]
    half = rows // 2
    top, bottom = tf.split(kernel, [half, rows - half], axis=0)

    def products(h):
        return tf.split(tf.matmul(h[:, :half], top) + tf.matmul(h[:, half:], bottom) + bias,
                        3, axis=1)
    return products


def _forward(xs, h0, recurrent, active, steps, keep_gates):
    """The recurrence over packed input projections xs = (x W_z + b_z, x W_r + b_r, x W_n + b_n),
    each [S, H], from the initial state h0 [N, H] in sorted row order; recurrent(h) gives the
    three recurrent products (`per_gate_products` or `row_half_products`). Returns packed
    outputs [S, H] and, with keep_gates, the packed z, r, n and h U_n + c_n that the backward
    pass needs."""
    inputs = [_split_steps(x, active, steps) for x in xs]
    outs = tuple(_step_array(h0.dtype, h0.shape[-1], steps) for _ in range(5 if keep_gates else 1))

    def body(t, h, outs):
        k = active[t]
        hp = h[:k]
        rz, rr, rn = recurrent(hp)
        z = tf.sigmoid(inputs[0].read(t) + rz)
        r = tf.sigmoid(inputs[1].read(t) + rr)
        n = tf.tanh(inputs[2].read(t) + r * rn)
        hn = n + z * (hp - n)
        written = (hn, z, r, n, rn)[:len(outs)]
        outs = tuple(ta.write(t, v) for ta, v in zip(outs, written))
        return t + 1, _replace_head(h, hn), outs

    _, _, outs = tf.while_loop(lambda t, h, outs: t < steps, body, (0, h0, outs))
    return tuple(ta.concat() for ta in outs)


def _backward(d_out, packing, h0, outputs, gates, kernels):
    """Gradients of the recurrence. Per step only the state's gradient is chained (products with
    U^T); the gradients of the input projections, U and c are taken after the loop, each in one
    product."""
    z, r, n, rn = gates
    active, steps = packing.active, packing.steps
    hp = packing.previous(h0, outputs)
    # d(pre-activation) = dh * coefficient, for z, r and h U_n + c_n; all known before the loop.
    d_n = (1 - z) * (1 - n * n)  # dh' / d(pre-activation of n)
    coefs = [(hp - n) * z * (1 - z), d_n * rn * r * (1 - r), d_n * r]
    steps_of = [_split_steps(v, active, steps) for v in [d_out, z] + coefs]
    d_hs = _step_array(d_out.dtype, d_out.shape[-1], steps)

    def body(t, carry, d_hs):
        k = active[t]
        d_out_t, z_t, *coefs_t = (s.read(t) for s in steps_of)
        dh = d_out_t + carry[:k]
        d_prev = tf.add_n([dh * z_t] + [tf.matmul(dh * c, u, transpose_b=True)
                                        for c, u in zip(coefs_t, kernels)])
        return t - 1, _replace_head(carry, d_prev), d_hs.write(t, dh)

    _, d_h0, d_hs = tf.while_loop(lambda t, carry, d_hs: t >= 0, body,
                                  (steps - 1, tf.zeros_like(h0), d_hs))
    dh = d_hs.concat()
    d_pre = [dh * c for c in coefs]  # z, r, and h U_n + c_n
    d_xs = [d_pre[0], d_pre[1], dh * d_n]
    d_kernels = [tf.matmul(hp, d, transpose_a=True) for d in d_pre]
    return d_xs, d_h0, d_kernels, [_column_sum(d) for d in d_pre]


def packed_gru(xs, h0, kernels, biases, packing):
    """Packed outputs [S, H] of the GRU whose per-gate input projections are xs (see _forward),
    from h0 [N, H] (sorted row order), per-gate kernels and biases. Gradients flow to all of
    them through `_backward`."""

    @tf.custom_gradient
    def recurrence(x_z, x_r, x_n, h0, u_z, u_r, u_n, c_z, c_r, c_n):
        kernels = (u_z, u_r, u_n)
        outputs, *gates = _forward((x_z, x_r, x_n), h0,
                                   per_gate_products(kernels, (c_z, c_r, c_n)),
                                   packing.active, packing.steps, True)

        def grad(d_out):
            d_xs, d_h0, d_kernels, d_biases = _backward(d_out, packing, h0, outputs, gates,
                                                        kernels)
            return (*d_xs, d_h0, *d_kernels, *d_biases)

        return outputs, grad

    return recurrence(*xs, h0, *kernels, *biases)


def run(cell, project, h0, packing, training):
    """The packed GRU of a Keras GRUCell (reset_after=True) in h0's dtype. project(W, b) gives
    the packed input projections [S, *] for an input kernel W and bias b.

    Training: per-gate weights and `packed_gru`'s gradients. Inference: the same, unless the
    call is small (2 S < input + hidden size, e.g. one request), where splitting the weights
    would copy more than splitting each step's products (`row_half_products`; a paragraph
    request: 3.3 ms of weight copies); TensorFlow's own gradient of the loop still applies
    there."""
    dtype = h0.dtype
    kernel, recurrent_kernel, bias = (tf.cast(v, dtype) for v in
                                      (cell.kernel, cell.recurrent_kernel, cell.bias))

    def per_gate(differentiable):
        ws, us = tf.split(kernel, 3, axis=1), tf.split(recurrent_kernel, 3, axis=1)
        bs, cs = tf.split(bias[0], 3), tf.split(bias[1], 3)
        xs = [project(w, b) for w, b in zip(ws, bs)]
        if differentiable:
            return packed_gru(xs, h0, us, cs, packing)
        return _forward(xs, h0, per_gate_products(us, cs), packing.active, packing.steps,
                        False)[0]

    if training:
        return per_gate(True)

    def whole():
        xs = tf.split(project(kernel, bias[0]), 3, axis=1)
        return _forward(xs, h0, row_half_products(recurrent_kernel, bias[1]), packing.active,
                        packing.steps, False)[0]

    size = tf.shape(packing.row)[0]
    small = 2 * size < kernel.shape[0] + recurrent_kernel.shape[0]
    return tf.cond(small, whole, lambda: per_gate(False))


def encode_max(cell, inputs, lengths, initial_state=None, training=False):
    """SequenceEncoder's packed path: inputs padded [N, T, D] or values [sum(lengths), D] -> max
    over valid steps of the GRU outputs, [N, H]."""
    packing = Packing(lengths)
    x = packing.pack(inputs, lengths)
    units = cell.units
    if initial_state is None:
        h0 = tf.zeros([packing.rows, units], inputs.dtype)
    else:
        h0 = tf.gather(tf.cast(initial_state, inputs.dtype), packing.order)
    # Every input step in one product per gate.
    outputs = run(cell, lambda w, b: tf.nn.bias_add(tf.matmul(x, w), b), h0, packing,
                  bool(training))
    return packing.max_pool(outputs)


def decode(cell, codes, lengths, training=False):
    """SequenceDecoder's packed path: the code fed at every step -> [N, max(lengths), units]
    outputs, zeros after each row's length. The input projection is computed once per row."""
    packing = Packing(lengths)
    h0 = tf.zeros([packing.rows, cell.units], codes.dtype)
    outputs = run(cell, lambda w, b: tf.gather(tf.nn.bias_add(tf.matmul(codes, w), b),
                                               packing.row), h0, packing, bool(training))
    return packing.unpack(outputs, packing.steps)
