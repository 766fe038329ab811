"""Attention encoders in the HSE hierarchy: padding invariance, masks, configs, resume, mixed
precision, and export parity of both towers."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import checkpoint_weights, tiny_config

TOL = 1e-5
ATTENTION = dict(encoder="attention", layers=2, heads=2, ff_dim=16, dropout=0.0)


def _encoder(**kw):
    import keras

    from hse_tf.layers import AttentionEncoder
    keras.utils.set_random_seed(0)
    return AttentionEncoder(8, **{"layers": 2, "heads": 2, "dropout": 0.0, "pooling": "mean_max",
                                  **kw})


POOLED = [{}, {"pooling": "cls"}, {"positions": "learned"}, {"pooling": "attention"},
          {"width": 4, "pooling": "attention"}, {"width": 4, "pooling": "cls"}]


@pytest.mark.parametrize("options", POOLED)
def test_padding_never_changes_a_real_row(options):
    rng = np.random.default_rng(0)
    lengths = np.array([3, 1, 6, 2])
    values = rng.normal(size=(lengths.sum(), 5)).astype(np.float32)
    context = rng.normal(size=(4, 8)).astype(np.float32)
    enc = _encoder(**options)
    packed = enc(values, lengths, initial_state=context).numpy()
    for extra, junk in ((0, 0.0), (4, 1e3), (9, -7.0)):
        padded = np.full((4, lengths.max() + extra, 5), junk, np.float32)
        for i, s in enumerate(np.cumsum(lengths) - lengths):
            padded[i, :lengths[i]] = values[s:s + lengths[i]]
        np.testing.assert_allclose(enc(padded, lengths, initial_state=context), packed,
                                   atol=TOL)
    # Each row alone (a batch of one, no padding at all) gives its row of the batch.
    for i, s in enumerate(np.cumsum(lengths) - lengths):
        alone = enc(values[s:s + lengths[i]], lengths[i:i + 1], initial_state=context[i:i + 1])
        np.testing.assert_allclose(alone[0], packed[i], atol=TOL)
    # `starts`: rows read from shared values, as the text tower's flat rows do.
    starts = np.cumsum(lengths) - lengths
    np.testing.assert_allclose(enc(values, lengths, initial_state=context, starts=starts),
                               packed, atol=TOL)


def test_pack_rows_next_fit_longest_first():
    from hse_tf.layers.attention_encoder import pack_rows
    # Hand-packed into blocks of 6: 5 -> block 0 at 0; 4 -> block 1 at 6; 3 -> block 2 at 12;
    # 2 -> block 2 at 15; 1 -> block 2 at 17.
    first, blocks = pack_rows(np.array([3, 5, 2, 4, 1]), 6)
    assert first.numpy().tolist() == [12, 0, 15, 6, 17] and int(blocks) == 3


@pytest.mark.parametrize("options", POOLED)
def test_packed_rows_equal_padded_rows_with_gradients(options):
    """Many rows of mixed lengths, packed into several blocks (values in), against the same
    rows padded (a padded tensor in): outputs and every weight's gradient agree."""
    import tensorflow as tf
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 90, size=23).astype(np.int32)
    values = rng.normal(size=(lengths.sum(), 5)).astype(np.float32)
    state = rng.normal(size=(23, 8)).astype(np.float32)
    padded = tf.RaggedTensor.from_row_lengths(values, lengths).to_tensor()
    enc = _encoder(**options)
    outs, grads = [], []
    for inputs in (values, padded):
        with tf.GradientTape() as tape:
            out = enc(inputs, lengths, initial_state=state)
            loss = tf.reduce_sum(out * np.linspace(-1, 1, 8, dtype=np.float32))
        outs.append(out.numpy())
        grads.append([g.numpy() for g in tape.gradient(loss, enc.trainable_weights)])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-4)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)


def test_attention_pooling_weights_each_rows_steps_by_a_softmax():
    """COOT's attention-aware pooling. A one-step row: the weight is 1, so the output is the
    step's own output, half of mean + max. Per head: a head with zero scores pools the steps'
    mean (the same as an encoder whose every score is zero), a head whose scores single out
    one step does not."""
    rng = np.random.default_rng(5)
    values = rng.normal(size=(4, 5)).astype(np.float32)
    ones = np.ones(4, np.int32)
    plain = _encoder()
    mean_max = plain(values, ones).numpy()
    enc = _encoder(pooling="attention")
    enc(values, ones)
    same = {w.path.split("/", 1)[1]: w for w in plain.weights}
    for w in enc.weights:  # the same blocks, plus the pooling's own weights
        if w.path.split("/", 1)[1] in same:
            w.assign(same[w.path.split("/", 1)[1]])
    np.testing.assert_allclose(enc(values, ones).numpy(), mean_max / 2, atol=TOL)
    assert [w.name for w in enc.pool_scores.weights] == ["kernel"]
    assert enc.pool_scores.kernel.shape == (8, 2)  # a score per head
    # Huge scores for head 0 on a step whose last hidden unit is largest: the pooled head-0
    # channels are that step's, and head 1 (zero scores) the steps' mean.
    enc.pool_hidden.kernel.assign(np.eye(8, dtype=np.float32))
    kernel = np.zeros((8, 2), np.float32)
    kernel[7, 0] = 1e4
    enc.pool_scores.kernel.assign(kernel)
    steps, lengths = rng.normal(size=(3, 5)).astype(np.float32), np.array([3])
    mean_pool = _encoder(pooling="attention")
    mean_pool(steps, lengths)
    mean_pool.set_weights(enc.get_weights())
    zero = kernel * 0
    mean_pool.pool_scores.kernel.assign(zero)
    out, mean = enc(steps, lengths).numpy()[0], mean_pool(steps, lengths).numpy()[0]
    np.testing.assert_allclose(out[4:], mean[4:], atol=TOL)  # head 1: the same mean
    assert np.abs(out[:4] - mean[:4]).max() > 1e-3  # head 0: one step, not the mean


def test_length_one_rows_and_mean_plus_max_pooling():
    enc = _encoder()
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    out = enc(x, np.array([1, 1, 1])).numpy()
    assert out.shape == (3, 8) and np.all(np.isfinite(out))
    # One step: mean and max over it are the same vector, so the output is twice the block
    # stack's output for that step (checked against the layers applied by hand).
    import tensorflow as tf

    from hse_tf.layers.attention_encoder import sinusoidal
    h = enc.project(x[:, None, :]) + sinusoidal(1, 8)[None]
    for i in range(enc.num_layers):
        a = enc.norm1[i](h)
        h = h + enc.attention[i](a, a)
        h = h + enc.ff2[i](enc.ff1[i](enc.norm2[i](h)))
    np.testing.assert_allclose(out, 2 * tf.squeeze(enc.final_norm(h), 1), atol=TOL)


def test_config_round_trip_and_registry():
    from hse_tf.training.runs import encoder_options, model_from_config
    from hse_tf.layers import AttentionEncoder, SequenceEncoder
    enc = _encoder(pooling="cls", positions="learned", ff_dim=12)
    back = AttentionEncoder.from_config(enc.get_config())
    assert back.get_config() == enc.get_config()
    assert encoder_options({}) == {"low_encoder": "gru", "high_encoder": "gru", "attention": {}}
    flags = {"encoder": "attention", "high_encoder": "gru", "layers": 3, "heads": 2,
             "ff_dim": 0, "dropout": 0.0}
    assert encoder_options(flags) == {
        "low_encoder": "attention", "high_encoder": "gru",
        "attention": {"layers": 3, "heads": 2, "ff_dim": 0, "dropout": 0.0,
                      "pooling": "mean_max", "context_layers": 0,
                      "ff_ratio": 2.0, "width_ratio": 1.0}}  # a config of before
    model = model_from_config({"model": "hse", "hidden": 8, **flags}, 6, 20, 5)
    assert isinstance(model.video_tower.clip_encoder, AttentionEncoder)
    assert isinstance(model.video_tower.video_encoder, SequenceEncoder)
    assert isinstance(model.text_tower.sentence_encoder, AttentionEncoder)
    cfg = model.get_config()
    assert cfg["low_encoder"] == "attention" and cfg["attention"]["layers"] == 3
    # A GRU run config from before attention encoders builds the same GRU model as before.
    old = model_from_config({"model": "hse", "hidden": 8}, 6, 20, 5)
    assert isinstance(old.text_tower.paragraph_encoder, SequenceEncoder)
    with pytest.raises(ValueError, match="must divide by --heads 3"):
        model_from_config({"model": "hse", "hidden": 8, "encoder": "attention", "heads": 3},
                          6, 20, 5)


def test_stored_configs_keep_the_widths_they_were_made_with():
    """The feed-forward width is --hidden by default (COOT's), 2 x --hidden before --ff_ratio;
    dropout 0 by default, 0.1 before; a stored config (a run's model_config, a saved layer) that lacks an option builds what it
    was made with."""
    from hse_tf.layers import AttentionEncoder
    from hse_tf.models import HSEModel
    from hse_tf.training.runs import model_from_config
    assert AttentionEncoder(8).ff_dim == 8 and AttentionEncoder(8, ff_dim=5).ff_dim == 5
    assert AttentionEncoder(8, ff_ratio=1.5).ff_dim == 12
    new = model_from_config({"model": "hse", "hidden": 8, "encoder": "attention",
                             "ff_ratio": 1.0}, 6, 20, 5)
    assert new.video_tower.clip_encoder.ff_dim == 8  # a run config without --width_ratio: 1
    stored = new.get_config()  # as a run from before --ff_ratio and --context_layers saved it
    stored["attention"] = {"layers": 1, "heads": 4, "ff_dim": 0,
                           "contextual": True, "positions": "sinusoidal", "pooling": "cls"}
    old = model_from_config({"model_config": stored}, 6, 20, 5)
    video = old.video_tower.video_encoder
    assert (video.ff_dim, video.context_layers, video.pooling) == (16, 0, "cls")
    assert video.dropout == 0.1  # the default before dropout 0
    assert HSEModel.from_config(stored).text_tower.sentence_encoder.ff_dim == 16
    # A model made today with some options saves them all: it loads as it was made.
    made = HSEModel(6, 20, 5, hidden=8, low_encoder="attention", attention={"heads": 2})
    back = HSEModel.from_config(made.get_config()).video_tower.clip_encoder
    assert (back.ff_dim, back.width, back.pooling, back.heads, back.dropout) == (
        4, 4, "attention", 2, 0.0)
    layer = AttentionEncoder(8, contextual=True, context_dim=6).get_config()
    del layer["context_layers"]  # a layer saved before the option
    back = AttentionEncoder.from_config(layer)
    assert (back.context_layers, back.ff_dim) == (0, 8)  # ff_dim: the width it stored


def test_a_narrow_width_runs_the_blocks_at_it_and_projects_out():
    """--width below --hidden: every block, position and pooling runs at the width, the
    context token comes in and each pooled output goes out through a projection; 0 (and a
    stored config without the option) is the hidden size. A model narrows its low level."""
    import tensorflow as tf

    from hse_tf.layers import AttentionEncoder
    from hse_tf.models import HSEModel
    from hse_tf.training.runs import model_from_config
    enc = AttentionEncoder(8, heads=2, width=4, pooling="attention")
    out = enc(np.ones((5, 3), np.float32), np.array([2, 3]),
              initial_state=np.ones((2, 8), np.float32))
    assert out.shape == (2, 8) and enc.ff_dim == 4  # ff: --ff_ratio (1) x the width
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in enc.weights}
    assert shapes["project/kernel"] == (3, 4) and shapes["state_project/kernel"] == (8, 4)
    assert shapes["attention_0/query/kernel"] == (4, 2, 2)
    assert shapes["ff1_0/kernel"] == (4, 4) and shapes["pool_hidden/kernel"] == (4, 4)
    assert shapes["output_project/kernel"] == (4, 8)
    # The embedding is the projection of the width-4 pooled output: rank <= 4.
    many = enc(tf.random.normal([40, 3], seed=1), np.full(8, 5), initial_state=tf.ones([8, 8]))
    assert np.linalg.matrix_rank(many.numpy() - enc.output_project.bias.numpy(),
                                 tol=1e-4) <= 4
    full = AttentionEncoder(8, heads=2)
    assert full.width == 8 and not hasattr(full, "output_project")
    back = AttentionEncoder.from_config(enc.get_config())
    assert (back.width, back.ff_dim) == (4, 4)
    stored = enc.get_config()
    del stored["width"]  # a layer saved before the option: the blocks ran at the hidden size
    assert AttentionEncoder.from_config(stored).width == 8
    # In a model: the frames' and words' blocks at the width, the clips' and sentences' (few
    # steps a row) at the hidden size.
    model = model_from_config({"model": "hse", "hidden": 8, "encoder": "attention",
                               "width": 4, "contextual": True}, 6, 20, 5)
    assert model.video_tower.clip_encoder.width == model.text_tower.sentence_encoder.width == 4
    assert model.video_tower.video_encoder.width == model.text_tower.paragraph_encoder.width == 8
    assert model.video_tower.video_encoder.contextual
    fse = model_from_config({"model": "fse", "hidden": 8, "encoder": "attention", "width": 4},
                            6, 20, 5)
    assert fse.video_tower.clip_encoder.width == 4  # the flat model's one level
    # --width_ratio (0.5 by default; 1 in a run config from before it), rounded to the heads.
    model = HSEModel(6, 20, 5, hidden=8, low_encoder="attention", high_encoder="attention")
    assert model.video_tower.clip_encoder.width == 4 and model.video_tower.clip_encoder.narrow
    assert model.video_tower.clip_encoder.ff_dim == 4  # --ff_ratio (1) x the width
    stored = model.get_config()
    del stored["attention"]["width_ratio"]
    old = model_from_config({"model_config": stored}, 6, 20, 5)
    assert old.video_tower.clip_encoder.width == 8 and not old.video_tower.clip_encoder.narrow
    model = model_from_config({"model": "hse", "hidden": 24, "encoder": "attention",
                               "width_ratio": 0.3}, 6, 20, 5)
    assert model.text_tower.sentence_encoder.width == 8  # 0.3 x 24 = 7.2 -> 2 heads of 4
    with pytest.raises(ValueError, match="attention width 6 .* must divide by --heads 4"):
        AttentionEncoder(8, width=6)


def test_attention_run_resumes_exactly(tiny_demo, tmp_path):
    from hse_tf.training import checkpoints, train
    one_layer = {**ATTENTION, "layers": 1}  # resuming restores every block alike
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    train(tiny_config(tiny_demo, full, epochs=2, **one_layer), full, verbose=0,
          deterministic=True, projector_max=0)
    # The same run stopped after its first epoch: its folder as a kill before the second
    # checkpoint leaves it (the trainer writes ckpt-0001, then points checkpoint.json at it).
    shutil.copytree(full, part)
    shutil.rmtree(os.path.join(part, "ckpt-0002"))
    os.remove(os.path.join(part, "results.json"))
    with open(os.path.join(part, checkpoints.POINTER), "w") as f:
        json.dump({"latest": checkpoints.checkpoint_name(1), "epoch": 1}, f)
    results = train(tiny_config(tiny_demo, part, epochs=2, **one_layer), part, resume=True,
                    verbose=0, deterministic=True, projector_max=0)
    assert json.load(open(os.path.join(part, "run_config.json")))["encoder"] == "attention"
    for a, b in zip(checkpoint_weights(full), checkpoint_weights(part)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    whole = json.load(open(os.path.join(full, "results.json")))
    for direction in ("p2v", "v2p"):  # the same weights retrieve the same
        assert results[direction]["R@1"] == pytest.approx(whole[direction]["R@1"])
        assert results[direction]["MR"] == pytest.approx(whole[direction]["MR"])


def test_mixed_attention_and_gru_with_bfloat16_on_cpu(tiny_demo, tmp_path):
    from hse_tf.training import train
    run = str(tmp_path / "run")
    results = train(tiny_config(tiny_demo, run, epochs=1, mixed_precision="bfloat16",
                                low_encoder="attention", high_encoder="gru", layers=1,
                                heads=2, dropout=0.1), run, verbose=0, projector_max=0)
    state = json.load(open(os.path.join(run, "ckpt-0001", "state.json")))
    assert np.isfinite(state["logs"]["loss"])
    # The bfloat16 run's checkpoint, loaded again, retrieves as the run reported, up to the
    # rounding of bfloat16: the run evaluated its bfloat16 towers, `evaluate` rebuilds them in
    # float32, so a near tie may turn (at most one of the 16 videos a metric, here).
    from hse_tf import evaluate
    again = evaluate.run(run, incomplete_max_k=0, proposals=(), out=str(tmp_path / "e.json"))
    for direction in ("p2v", "v2p"):
        for k, one_video in (("R@1", 100 / 16), ("R@5", 100 / 16), ("MR", 1.0)):
            assert abs(again["retrieval"][direction][k] - results[direction][k]) <= one_video, k


def test_contextual_attention_masks_the_context_and_needs_an_attention_high_level():
    from hse_tf.training.runs import model_from_config
    from hse_tf.layers import AttentionEncoder
    rng = np.random.default_rng(2)
    lengths, ctx_lengths = np.array([2, 1, 3]), np.array([5, 2, 7])
    values = rng.normal(size=(lengths.sum(), 5)).astype(np.float32)
    ctx = rng.normal(size=(ctx_lengths.sum(), 3)).astype(np.float32)
    enc = _encoder(contextual=True, context_dim=3)
    packed = enc(values, lengths, context=(ctx, ctx_lengths)).numpy()
    # The context padded with junk beyond each row's length gives the same outputs ...
    padded = np.full((3, 9, 3), 1e3, np.float32)
    for i, s in enumerate(np.cumsum(ctx_lengths) - ctx_lengths):
        padded[i, :ctx_lengths[i]] = ctx[s:s + ctx_lengths[i]]
    np.testing.assert_allclose(enc(values, lengths, context=(padded, ctx_lengths)), packed,
                               atol=TOL)
    # ... and the context is used: another video's frames change the row.
    other = enc(values, lengths, context=(ctx[::-1].copy(), ctx_lengths)).numpy()
    assert np.abs(other - packed).max() > 1e-3
    assert AttentionEncoder.from_config(enc.get_config()).get_config() == enc.get_config()
    with pytest.raises(ValueError, match="needs context"):
        enc(values, lengths)
    model = model_from_config({"model": "hse", "hidden": 8, "encoder": "attention",
                               "contextual": True, "heads": 2}, 6, 20, 5)
    assert model.video_tower.video_encoder.contextual
    assert not model.video_tower.clip_encoder.contextual  # the low level has no context
    assert model.text_tower.paragraph_encoder.context_dim == 5  # the words' size
    with pytest.raises(ValueError, match="needs HSE with --high_encoder=attention"):
        model_from_config({"model": "hse", "hidden": 8, "encoder": "attention",
                           "high_encoder": "gru", "contextual": True}, 6, 20, 5)


def test_attention_towers_train_with_reconstruction_and_the_cycle_loss(tiny_demo, tmp_path):
    """The tau terms decode the towers' embeddings with GRU decoders, whatever the encoder;
    the cycle term trains beside them."""
    from hse_tf.training import train
    run = str(tmp_path / "run")
    train(tiny_config(tiny_demo, run, epochs=1, tau_high=5e-4, tau_low=1e-4, w_cycle=0.01,
                      contextual=True, **ATTENTION), run, verbose=0, projector_max=0)
    logs = json.load(open(os.path.join(run, "ckpt-0001", "state.json")))["logs"]
    for term in ("recon_high", "recon_low", "cycle"):
        assert np.isfinite(logs[term]) and logs[term] > 0, term


@pytest.mark.parametrize("options", [ATTENTION, {**ATTENTION, "high_encoder": "gru",
                                                 "pooling": "cls"},
                                     {**ATTENTION, "contextual": True},
                                     {**ATTENTION, "width": 4, "pooling": "attention"}])
def test_export_parity_of_both_towers(tiny_demo, tmp_path, options):
    import tensorflow as tf

    from hse_tf.data.annotations import read_activitynet_captions
    from hse_tf.data.features import open_features
    from hse_tf.data.pipeline import collate
    from hse_tf.data.video_dataset import VideoDataset
    from hse_tf.data.vocabulary import Vocabulary
    from hse_tf.training.runs import model_from_config
    from hse_tf.export import export_encoders
    anns = read_activitynet_captions(tiny_demo["val_1"])
    vocab = Vocabulary.build([s for a in anns for s in a.sentences])
    split = VideoDataset(anns, open_features("c3d_hdf5", tiny_demo["features"]), vocab)
    model = model_from_config({"model": "hse", "hidden": 8, **options}, 8, len(vocab), 6)
    paths = export_encoders(model, vocab, str(tmp_path / "models"), max_sentences=30)
    idx = [0, 1, 2, 5]
    want = {k: v.numpy() for k, v in model(collate([split.example(i) for i in idx],
                                                   list(range(len(idx))))).items()}
    video = tf.saved_model.load(paths["hse_video"]).signatures["ragged"]
    feats = [split.store.get(anns[i].video_id) for i in idx]
    got = video(features=tf.constant(np.concatenate(feats)),
                feature_row_splits=tf.constant(np.cumsum([0] + [len(f) for f in feats]),
                                               tf.int64),
                clip_times=tf.constant(np.concatenate([anns[i].segments for i in idx]),
                                       tf.float64),
                clip_row_splits=tf.constant(np.cumsum([0] + [len(anns[i].segments)
                                                             for i in idx]), tf.int64),
                durations=tf.constant([anns[i].duration for i in idx], tf.float64))
    np.testing.assert_allclose(got["video"], want["video"], atol=TOL)
    np.testing.assert_allclose(got["clips"], want["clips"], atol=TOL)
    text = tf.saved_model.load(paths["hse_text"]).signatures["serving_default"]
    paragraphs = [anns[i].sentences for i in idx]
    width = max(len(p) for p in paragraphs)
    got = text(sentences=tf.constant([p + [""] * (width - len(p)) for p in paragraphs]),
               sentence_counts=tf.constant([len(p) for p in paragraphs], tf.int64))
    np.testing.assert_allclose(got["paragraph"], want["paragraph"], atol=TOL)
    sentences = np.concatenate([got["sentences"][b, :len(p)] for b, p in enumerate(paragraphs)])
    np.testing.assert_allclose(sentences, want["sentences"], atol=TOL)


def test_encoded_context_and_runs_from_before_it():
    """--context_layers: the context passes through its own masked blocks first (COOT); a run
    config without the option (a run from before) keeps the raw projected context."""
    from hse_tf.training.runs import model_from_config
    rng = np.random.default_rng(4)
    lengths, ctx_lengths = np.array([2, 3]), np.array([4, 6])
    values = rng.normal(size=(5, 5)).astype(np.float32)
    ctx = rng.normal(size=(10, 3)).astype(np.float32)
    raw = _encoder(contextual=True, context_dim=3, context_layers=0)
    enc = _encoder(contextual=True, context_dim=3, context_layers=1)
    raw(values, lengths, context=(ctx, ctx_lengths))
    out = enc(values, lengths, context=(ctx, ctx_lengths)).numpy()
    assert len(enc.weights) > len(raw.weights) and enc.ctx_attention[0].built
    # A change of the first video's context changes its row only (the blocks are masked).
    moved = ctx.copy()
    moved[0] += 5.0
    changed = enc(values, lengths, context=(moved, ctx_lengths)).numpy()
    assert np.abs(changed[0] - out[0]).max() > 1e-4 and np.allclose(changed[1], out[1],
                                                                     atol=TOL)
    old = model_from_config({"model": "hse", "hidden": 8, "encoder": "attention",
                             "contextual": True, "heads": 2}, 6, 20, 5)
    assert old.video_tower.video_encoder.context_layers == 0
    new = model_from_config({"model": "hse", "hidden": 8, "encoder": "attention",
                             "contextual": True, "heads": 2, "context_layers": 1}, 6, 20, 5)
    assert new.video_tower.video_encoder.context_layers == 1
    assert new.video_tower.clip_encoder.context_layers == 0  # no context at the low level


def test_learning_rate_schedule_and_warm_up_by_hand():
    import keras

    from hse_tf.training.optimizer import LinearWarmUp, make_optimizer, make_schedule
    cfg = {"lr": 1e-3, "lr_decay_every": 2, "lr_decay_factor": 0.1}
    steps = (0, 1, 3, 19, 20, 45)
    plain = make_schedule(cfg, steps_per_epoch=10)  # x0.1 every 20 steps
    assert isinstance(plain, keras.optimizers.schedules.ExponentialDecay)  # runs from before
    np.testing.assert_allclose([float(plain(s)) for s in steps],
                               [1e-3, 1e-3, 1e-3, 1e-3, 1e-4, 1e-5], rtol=1e-5)
    warm = make_schedule({**cfg, "warmup_epochs": 0.4}, steps_per_epoch=10)  # 4 steps
    np.testing.assert_allclose([float(warm(s)) for s in steps],
                               [2.5e-4, 5e-4, 1e-3, 1e-3, 1e-4, 1e-5], rtol=1e-5)
    back = LinearWarmUp.from_config(warm.get_config())
    assert back.warmup_steps == 4 and float(back(1)) == float(warm(1))
    assert make_optimizer({**cfg, "warmup_epochs": 1.5}, 8)._learning_rate.warmup_steps == 12
