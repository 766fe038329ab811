"""The packed GRU (hse_tf.layers.packed_gru) computes Keras' GRU: outputs and every gradient."""

import numpy as np
import pytest
import tensorflow as tf

from hse_tf.layers import SequenceDecoder, SequenceEncoder, pad_rows
from hse_tf.layers.packed_gru import Packing


def _pair(cls, units, input_dim, seed):
    layers = [cls(units, implementation=impl) for impl in ("packed", "keras")]
    for layer in layers:
        layer.build((None, None, input_dim) if cls is SequenceEncoder else (None, input_dim))
    rng = np.random.default_rng(seed)
    # Non-zero biases, so that both bias rows are exercised.
    weights = [rng.normal(scale=0.3, size=w.shape).astype(np.float32)
               for w in layers[1].get_weights()]
    for layer in layers:
        layer.set_weights(weights)
    return layers


def _check(a, b, tol):
    a, b = (np.asarray(tf.convert_to_tensor(v)) for v in (a, b))
    scale = max(1.0, float(np.max(np.abs(b))))
    np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0)


def test_packing_layout():
    # lengths [2, 3, 1] -> sorted rows (1, 0, 2); active per step [3, 2, 1];
    # packed step-major: t0: rows 1, 0, 2; t1: rows 1, 0; t2: row 1.
    p = Packing(tf.constant([2, 3, 1]))
    assert p.order.numpy().tolist() == [1, 0, 2]
    assert p.active.numpy().tolist() == [3, 2, 1]
    assert p.offsets.numpy().tolist() == [0, 3, 5, 6]
    assert p.row.numpy().tolist() == [1, 0, 2, 1, 0, 1]
    assert p.step.numpy().tolist() == [0, 0, 0, 1, 1, 2]
    padded = tf.reshape(tf.range(9, dtype=tf.float32), [3, 3, 1])  # value = 3 * row + step
    packed = p.pack(padded, tf.constant([2, 3, 1]))
    assert packed.numpy().ravel().tolist() == [3, 0, 6, 4, 1, 5]
    back = p.unpack(packed, 3).numpy()[..., 0]
    assert back.tolist() == [[0, 1, 0], [3, 4, 5], [6, 0, 0]]  # zeros after each row
    assert p.max_pool(packed).numpy().ravel().tolist() == [1, 5, 6]


@pytest.mark.parametrize("with_state", [False, True])
def test_encoder_matches_keras_gru(with_state):
    packed, keras_gru = _pair(SequenceEncoder, 16, 5, seed=0)
    rng = np.random.default_rng(1)
    lengths = tf.constant([3, 7, 1, 7, 4, 2], tf.int32)  # ties, a single step, unsorted
    x = tf.constant(rng.normal(size=(6, 7, 5)).astype(np.float32))
    x = x * tf.sequence_mask(lengths, 7, tf.float32)[..., None]
    h0 = tf.constant(rng.normal(scale=0.5, size=(6, 16)).astype(np.float32))
    state = h0 if with_state else None
    results = []
    for layer in (packed, keras_gru):
        with tf.GradientTape() as tape:
            tape.watch([x, h0])
            out = layer(x, lengths, initial_state=state, training=True)
            loss = tf.reduce_sum(out * tf.reshape(tf.range(96, dtype=tf.float32) / 50.0, [6, 16]))
        results.append((out, tape.gradient(loss, [x, h0] + layer.trainable_variables)))
    (out_p, grads_p), (out_k, grads_k) = results
    _check(out_p, out_k, 1e-5)
    for gp, gk in zip(grads_p, grads_k):
        if gk is None:  # h0 without an initial state
            assert gp is None or not with_state
            continue
        _check(gp, gk, 1e-4)
    # Inference (TensorFlow's differentiation of the loop) gives the same outputs.
    _check(packed(x, lengths, initial_state=state, training=False), out_k, 1e-5)


def test_decoder_matches_keras_gru_on_valid_steps():
    packed, keras_gru = _pair(SequenceDecoder, 6, 8, seed=2)
    rng = np.random.default_rng(3)
    lengths = tf.constant([4, 1, 5, 2], tf.int32)
    codes = tf.constant(rng.normal(size=(4, 8)).astype(np.float32))
    mask = tf.sequence_mask(lengths, 5, tf.float32)[..., None]
    weight = tf.reshape(tf.cos(tf.range(4 * 5 * 6, dtype=tf.float32)), [4, 5, 6])
    results = []
    for layer in (packed, keras_gru):
        with tf.GradientTape() as tape:
            tape.watch(codes)
            out = layer(codes, lengths, training=True) * mask  # the caller masks
            loss = tf.reduce_sum(out * weight)
        results.append((out, tape.gradient(loss, [codes] + layer.trainable_variables)))
    (out_p, grads_p), (out_k, grads_k) = results
    assert out_p.shape == (4, 5, 6)
    _check(out_p, out_k, 1e-5)
    for gp, gk in zip(grads_p, grads_k):
        _check(gp, gk, 1e-4)


def test_packed_encoder_in_a_traced_function_with_batch_of_one():
    # Serving shape: one row, traced once for unknown sizes.
    (packed, keras_gru) = _pair(SequenceEncoder, 8, 3, seed=4)
    fn = tf.function(lambda x, n: packed(x, n), input_signature=[
        tf.TensorSpec([None, None, 3]), tf.TensorSpec([None], tf.int32)])
    x = tf.random.stateless_normal([1, 9, 3], seed=[1, 2])
    _check(fn(x, tf.constant([9])), keras_gru(x, tf.constant([9])), 1e-5)


def test_unknown_implementation_is_refused():
    with pytest.raises(ValueError, match="implementation"):
        SequenceEncoder(4, implementation="fast")


@pytest.mark.parametrize("name", ["hse", "fse"])
def test_first_training_steps_match_the_keras_gru(name):
    """Fixed seed, same weights and batches: the per-term losses of the first Adam steps with the
    packed GRU equal those of the previous implementation (Keras' GRU, still selectable)."""
    import keras

    from hse_tf.models import build_model
    from tests.conftest import random_batch
    models = []
    for impl in ("keras", "packed"):
        keras.utils.set_random_seed(0)
        model = build_model(name, feature_dim=6, vocab_size=20, word_dim=4, hidden=8,
                            loss={"tau_high": 0.5, "tau_low": 0.5}, gru_implementation=impl)
        model.build_weights()
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    rng = np.random.default_rng(5)
    batches = [{k: tf.constant(v) for k, v in random_batch(rng, clips=c, max_len=7).items()}
               for c in [(2, 3, 1), (1, 4), (3, 3, 2, 1)]]
    for step, batch in enumerate(batches):
        terms = [m.loss_terms(batch, training=True) for m in models]
        assert set(terms[0]) == set(terms[1])
        for k in terms[0]:
            assert float(terms[1][k]) == pytest.approx(float(terms[0][k]), rel=1e-4, abs=1e-6), \
                (step, k)
        for m in models:
            m.train_step(batch)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-4)


@pytest.mark.parametrize("lengths", [[3, 1, 2], [3, 7, 1, 7, 4, 2, 6, 5]])
@pytest.mark.parametrize("units,input_dim", [(16, 5), (15, 1)])
def test_inference_matches_keras(lengths, units, input_dim):
    # Inference keeps the weights whole and splits each product into two row halves: 15 units
    # split 7 / 8, and a 1-wide input cannot be split (one product).
    lengths = tf.constant(lengths, tf.int32)
    n, t = int(lengths.shape[0]), int(tf.reduce_max(lengths))
    rng = np.random.default_rng(6)
    packed, keras_gru = _pair(SequenceEncoder, units, input_dim, seed=7)
    x = tf.constant(rng.normal(size=(n, t, input_dim)).astype(np.float32))
    h0 = tf.constant(rng.normal(size=(n, units)).astype(np.float32))
    _check(packed(x, lengths, initial_state=h0), keras_gru(x, lengths, initial_state=h0), 1e-5)
    packed, keras_gru = _pair(SequenceDecoder, units, input_dim, seed=8)
    codes = tf.constant(rng.normal(size=(n, input_dim)).astype(np.float32))
    mask = tf.sequence_mask(lengths, t, tf.float32)[..., None]
    _check(packed(codes, lengths) * mask, keras_gru(codes, lengths) * mask, 1e-5)


def test_inference_path_is_differentiable():
    # An inference call stays differentiable: TensorFlow's gradient of the inference loop
    # (whose state shrinks as rows stop) equals Keras'.
    packed, keras_gru = _pair(SequenceEncoder, 12, 4, seed=9)
    lengths = tf.constant([2, 5, 1, 5], tf.int32)
    x = tf.constant(np.random.default_rng(10).normal(size=(4, 5, 4)).astype(np.float32))
    x = x * tf.sequence_mask(lengths, 5, tf.float32)[..., None]
    grads = []
    for layer in (packed, keras_gru):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(layer(x, lengths, training=False)))
        grads.append(tape.gradient(loss, [x] + layer.trainable_variables))
    for gp, gk in zip(*grads):
        _check(gp, gk, 1e-4)


def test_rows_sharing_values_equal_rows_back_to_back():
    # A paragraph row reads its sentences' words (starts): the same result as the words copied
    # back to back, for the packed path (training and inference) and Keras' GRU.
    rng = np.random.default_rng(11)
    values = tf.constant(rng.normal(size=(7, 4)).astype(np.float32))
    lengths = tf.constant([3, 4, 7], tf.int32)  # two sentences, then the paragraph of both
    starts = tf.constant([0, 3, 0], tf.int32)
    copied = tf.concat([values, values], 0)  # back to back: rows at 0, 3 and 7
    assert pad_rows(values, lengths, starts).numpy().tolist() == \
        pad_rows(copied, lengths).numpy().tolist()
    for layer in _pair(SequenceEncoder, 6, 4, seed=12):
        for training in (False, True):
            _check(layer(values, lengths, starts=starts, training=training),
                   layer(copied, lengths, training=training), 1e-6)


def test_starts_with_padded_inputs_is_an_error():
    # starts index values [V, D]; padded rows would silently ignore them.
    for layer in _pair(SequenceEncoder, 6, 4, seed=15):
        with pytest.raises(ValueError, match="starts index values"):
            layer(tf.zeros([2, 3, 4]), tf.constant([3, 2]), starts=tf.constant([0, 1]))


def test_pad_rows_with_starts_by_hand():
    values = tf.constant([[1.0], [2.0], [3.0], [4.0]])
    # rows: values[2:4] = [3, 4]; values[0:1] = [1]; values[1:4] = [2, 3, 4]; zeros after.
    got = pad_rows(values, tf.constant([2, 1, 3]), tf.constant([2, 0, 1]))
    assert got.numpy()[..., 0].tolist() == [[3, 4, 0], [1, 0, 0], [2, 3, 4]]


def test_traced_training_call_matches_eager():
    # tf.function traces the training loop as a graph (as Keras' fit does), where the loop's
    # shapes are checked: outputs and gradients equal the eager call's.
    packed, _ = _pair(SequenceEncoder, 8, 3, seed=13)
    lengths = tf.constant([4, 1, 3], tf.int32)
    values = tf.constant(np.random.default_rng(14).normal(size=(8, 3)).astype(np.float32))

    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cos(packed(x, lengths, training=True)))
        return loss, tape.gradient(loss, [x] + packed.trainable_variables)

    eager = loss_and_grads(values)
    traced = tf.function(loss_and_grads)(values)
    _check(traced[0], eager[0], 1e-6)
    for a, b in zip(traced[1], eager[1]):
        _check(a, b, 1e-5)
