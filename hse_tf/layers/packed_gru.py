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

    def pack(self, inputs, lengths, starts=None):
        """Padded [N, T, D] (right-padded) or values [V, D], in original row order -> [S, D]
        packed. Values hold the rows back to back, unless `starts` [N] gives each row's first
        value (rows may then share values)."""
        if inputs.shape.rank == 2:
            return tf.gather(inputs, self.value_index(lengths, starts))
        return tf.gather_nd(inputs, tf.stack([self.row, self.step], axis=1))

    def value_index(self, lengths, starts=None):
        """[S] the value each packed position reads (values form; see `pack`)."""
        if starts is None:
            starts = tf.cumsum(tf.cast(lengths, tf.int32), exclusive=True)
        return tf.gather(tf.cast(starts, tf.int32), self.row) + self.step

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
    """x with its first len(head) rows replaced by head; the same (static) shape as x (the
    backward pass's carry, which grows as rows start again)."""
    out = tf.concat([head, x[tf.shape(head)[0]:]], 0)
    out.set_shape(x.shape)
    return out


def _column_sum(x):
    # A product with a ones row: TensorFlow's column reduction of a tall matrix is far slower.
    return tf.matmul(tf.ones([1, tf.shape(x)[0]], x.dtype), x)[0]


# Training keeps the gates apart (z, r, n), each with its own [*, H] tensors: slicing a [k, 3H]
# product into gates copies it every step (tf.split took 12% of a training step), while
# splitting the weights copies them once per call. Inference keeps the weights whole (`_infer`):
# a request's call is too short to repay the weight copies, and its slices are small.


def per_gate_products(kernels, biases):
    """h -> (h U_z + c_z, h U_r + c_r, h U_n + c_n) with the kernels split per gate."""
    return lambda h: [tf.matmul(h, u) + c for u, c in zip(kernels, biases)]


def split_product(kernel):
    """x -> x kernel, as two products over the row halves of the kernel, which run side by side
    on two threads (one thread each under --cpu_threads=auto). The halves are views, not copies,
    so small calls (one request) do not copy the weights either."""
    rows = kernel.shape[0]
    if rows < 2:
        return lambda x: tf.matmul(x, kernel)
    half = rows // 2
    top, bottom = tf.split(kernel, [half, rows - half], axis=0)
    return lambda x: tf.matmul(x[:, :half], top) + tf.matmul(x[:, half:], bottom)


def _forward(xs, h0, recurrent, active, steps):
    """The training recurrence over packed input projections xs = (x W_z + b_z, x W_r + b_r,
    x W_n + b_n), each [S, H], from the initial state h0 [N, H] in sorted row order; recurrent(h)
    gives the three recurrent products (`per_gate_products`). Returns the packed outputs [S, H]
    and the packed z, r, n and h U_n + c_n that the backward pass needs."""
    inputs = [_split_steps(x, active, steps) for x in xs]
    outs = tuple(_step_array(h0.dtype, h0.shape[-1], steps) for _ in range(5))

    def body(t, h, outs):
        k = active[t]
        hp = h[:k]
        rz, rr, rn = recurrent(hp)
        z = tf.sigmoid(inputs[0].read(t) + rz)
        r = tf.sigmoid(inputs[1].read(t) + rr)
        n = tf.tanh(inputs[2].read(t) + r * rn)
        hn = n + z * (hp - n)
        outs = tuple(ta.write(t, v) for ta, v in zip(outs, (hn, z, r, n, rn)))
        return t + 1, hn, outs  # the state keeps only the rows still running

    _, _, outs = tf.while_loop(
        lambda t, h, outs: t < steps, body, (0, h0, outs),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, h0.shape[-1]]), (None,) * 5))
    return tuple(ta.concat() for ta in outs)


def _infer(x, h0, recurrent_kernel, c_n, active, steps):
    """Inference recurrence, fewer ops per step than `_forward`: x [S, 3H] packed holds
    x W + b + [c_z, c_r, 0] (every bias but c_n folded in), the recurrent product is one
    `split_product` per step, and the state keeps only the rows still running (rows only ever
    stop). Returns the packed outputs [S, H]."""
    units = h0.shape[-1]
    product = split_product(recurrent_kernel)
    inputs = _split_steps(x, active, steps)
    with tf.control_dependencies([x]):
        # Step 0 needs only h0, so TensorFlow would start its products while x is computed:
        # in a profile of a paragraph request, the two halves of the paragraph GRU's
        # projection then ran one after the other, behind step 0's products.
        h0 = tf.identity(h0)
    outs = _step_array(h0.dtype, units, steps)

    def body(t, h, outs):
        hp = h[:active[t]]
        y, xt = product(hp), inputs.read(t)
        zr = tf.sigmoid(xt[:, :2 * units] + y[:, :2 * units])
        z, r = zr[:, :units], zr[:, units:]
        n = tf.tanh(xt[:, 2 * units:] + r * (y[:, 2 * units:] + c_n))
        hn = n + z * (hp - n)
        return t + 1, hn, outs.write(t, hn)

    _, _, outs = tf.while_loop(
        lambda t, h, outs: t < steps, body, (0, h0, outs),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, units]), None))
    return outs.concat()


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
                                   packing.active, packing.steps)

        def grad(d_out):
            d_xs, d_h0, d_kernels, d_biases = _backward(d_out, packing, h0, outputs, gates,
                                                        kernels)
            return (*d_xs, d_h0, *d_kernels, *d_biases)

        return outputs, grad

    return recurrence(*xs, h0, *kernels, *biases)


def run(cell, project, h0, packing, training):
    """The packed GRU of a Keras GRUCell (reset_after=True) in h0's dtype. project(product, b)
    gives the packed input projections [S, *] from product(x) = x W for an input kernel W and
    a bias b.

    Training: per-gate weights and `packed_gru`'s gradients. Inference: the weights stay whole
    (splitting them per gate copies them on every call: 3.3 ms of a paragraph request) and
    every product is a `split_product`, two halves side by side (`_infer`); TensorFlow's own
    gradient of the loop applies there."""
    dtype = h0.dtype
    kernel, recurrent_kernel, bias = (tf.cast(v, dtype) for v in
                                      (cell.kernel, cell.recurrent_kernel, cell.bias))
    if training:
        ws, us = tf.split(kernel, 3, axis=1), tf.split(recurrent_kernel, 3, axis=1)
        bs, cs = tf.split(bias[0], 3), tf.split(bias[1], 3)
        xs = [project(lambda x, w=w: tf.matmul(x, w), b) for w, b in zip(ws, bs)]
        return packed_gru(xs, h0, us, cs, packing)
    units = recurrent_kernel.shape[0]
    folded = bias[0] + tf.concat([bias[1][:2 * units], tf.zeros([units], dtype)], 0)
    return _infer(project(split_product(kernel), folded), h0, recurrent_kernel,
                  bias[1][2 * units:], packing.active, packing.steps)


def encode_max(cell, inputs, lengths, initial_state=None, training=False, starts=None):
    """SequenceEncoder's packed path: inputs padded [N, T, D] or values [V, D] (see
    Packing.pack for `starts`) -> max over valid steps of the GRU outputs, [N, H]."""
    packing = Packing(lengths)
    units = cell.units
    if initial_state is None:
        h0 = tf.zeros([packing.rows, units], inputs.dtype)
    else:
        h0 = tf.gather(tf.cast(initial_state, inputs.dtype), packing.order)
    if starts is not None and not training:
        # Rows share values (a paragraph and its sentences): project each value once.
        index = packing.value_index(lengths, starts)

        def project(product, b):
            return tf.gather(tf.nn.bias_add(product(inputs), b), index)
    else:
        x = packing.pack(inputs, lengths, starts)

        def project(product, b):  # every input step in one product (per gate in training)
            return tf.nn.bias_add(product(x), b)
    return packing.max_pool(run(cell, project, h0, packing, bool(training)))


def decode(cell, codes, lengths, training=False):
    """SequenceDecoder's packed path: the code fed at every step -> [N, max(lengths), units]
    outputs, zeros after each row's length. The input projection is computed once per row."""
    packing = Packing(lengths)
    h0 = tf.zeros([packing.rows, cell.units], codes.dtype)
    outputs = run(cell, lambda product, b: tf.gather(tf.nn.bias_add(product(codes), b),
                                                     packing.row), h0, packing, bool(training))
    return packing.unpack(outputs, packing.steps)
