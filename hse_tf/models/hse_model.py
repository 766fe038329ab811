"""The HSE task model: two towers, the combined loss, and the custom train/test steps."""

import keras
import numpy as np
import tensorflow as tf

from hse_tf.layers.attention_config import as_before, with_defaults
from hse_tf.layers.encoders import DEFAULT_HIDDEN
from hse_tf.losses import HSELoss
from hse_tf.losses.ranking import l2_normalize
from hse_tf.models.text_encoder import TextEncoder
from hse_tf.models.video_encoder import VideoEncoder



@keras.saving.register_keras_serializable(package="hse_tf")
class HSEModel(keras.Model):
    """Hierarchical Sequence Embedding (or, with hierarchical=False, the FSE baseline).

    `call` returns L2-normalised embeddings ('video', 'paragraph', and for HSE 'clips',
    'sentences'); `train_step` / `test_step` compute the HSE objective and report each term.
    """

    def __init__(self, feature_dim, vocab_size, word_dim=300, hidden=DEFAULT_HIDDEN,
                 hierarchical=True,
                 flat_context=True, loss=None, gru_implementation="auto", low_encoder="gru",
                 high_encoder="gru", attention=None, **kwargs):
        super().__init__(**kwargs)
        # Which GRU code runs (hse_tf.layers.sequence_encoder.use_packed); the maths and the
        # weights are the same for all, so it is not part of a checkpoint's identity.
        self.gru_implementation = gru_implementation
        # Encoder of each level (hse_tf.layers.ENCODERS): low = frames/words, high = clips/
        # sentences; `attention` holds the AttentionEncoder options.
        self.low_encoder, self.high_encoder = low_encoder, high_encoder
        self.attention = dict(attention or {})
        if "attention" in (low_encoder, high_encoder):  # whole, as get_config saves it
            self.attention = with_defaults(self.attention)
        if self.attention.get("contextual") and not (hierarchical and high_encoder == "attention"):
            raise ValueError("contextual attention (--contextual) is a clip -> video and "
                             "sentence -> paragraph attention: it needs HSE with "
                             "--high_encoder=attention (or --encoder=attention)")
        self.feature_dim, self.vocab_size, self.word_dim = feature_dim, vocab_size, word_dim
        self.hidden, self.hierarchical, self.flat_context = hidden, hierarchical, flat_context
        self.loss_config = dict(loss or {})
        # The objective is always computed in float32, whatever the towers' compute dtype.
        self.loss_layer = HSELoss(**self.loss_config, name="hse_loss", dtype="float32")
        reconstruct = bool(self.loss_layer.tau_high or self.loss_layer.tau_low) and hierarchical
        encoders = dict(low_encoder=low_encoder, high_encoder=high_encoder,
                        attention=self.attention)
        self.video_tower = VideoEncoder(feature_dim, hidden, hierarchical, flat_context,
                                        reconstruct, gru_implementation, **encoders,
                                        name="video_tower")
        self.text_tower = TextEncoder(vocab_size, word_dim, hidden, hierarchical, flat_context,
                                      reconstruct, gru_implementation, **encoders,
                                      name="text_tower")
        self.term_names = ["loss"] + self.loss_layer.active_terms(hierarchical, flat_context)
        self.trackers = {t: keras.metrics.Mean(name=t) for t in self.term_names}

    def call(self, inputs, training=False):
        v = self.video_tower(inputs, training=training, decode=False)
        t = self.text_tower(inputs, training=training, decode=False)
        out = {"video": l2_normalize(v["video"]), "paragraph": l2_normalize(t["paragraph"])}
        if "clips" in v:
            out["clips"] = l2_normalize(v["clips"])
            out["sentences"] = l2_normalize(t["sentences"])
        return out

    def build(self, input_shape=None):
        """Both towers' weights, the reconstruction decoders included (which `call` skips), from
        the config alone."""
        self.video_tower.build(None)
        self.text_tower.build(None)
        self.built = True

    def build_weights(self):
        """Creates every weight, so that checkpoints load and the optimizer sees all variables
        from the start; one call on a dummy batch also sets Keras' input structure."""
        self.build(None)
        self(dummy_batch(self.feature_dim))
        return self

    def loss_terms(self, data, training=False):
        v = self.video_tower(data, training=training)
        t = self.text_tower(data, training=training)
        return self.loss_layer(v, t, data["clip_counts"], data["sentence_counts"])

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.loss_terms(data, training=True)
            # Each replica sees its own sub-batch; the optimizer sums replicas' gradients.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = terms["loss"] / replicas
            scaled = self.optimizer.scale_loss(scaled)  # float16: LossScaleOptimizer scales
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        if replicas > 1:
            # The word embedding's gradient is IndexedSlices with a different row count on each
            # replica, which the cross-replica sum cannot add; densify it (vocabulary x dim).
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                     for g in grads]
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        self.optimizer.apply_gradients(pairs)
        return self._track(terms)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # A private Keras hook, overridden for want of a public one (fenced: setup.cfg bounds
        # keras, and tests/test_models.py fails loudly if Keras renames or reshapes it).
        # Under a tf.distribute strategy Keras 3 builds the model from the first batch averaged
        # across replicas (strategy.reduce over the batch), which fails when the replicas'
        # batches differ in shape (ours do: variable clip/frame/word counts); building
        # everything beforehand does not skip that reduce. A dummy batch of the same structure
        # builds the same state (optimizer slots; the layers are already built).
        if getattr(self, "_distribute_strategy", None) is None:
            return
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=dummy_batch(self.feature_dim))

    def test_step(self, data):
        return self._track(self.loss_terms(data, training=False))

    def _track(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        logs = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 averages multi-worker logs with strategy.reduce(MEAN, axis=0), which
            # rejects scalars; shape-[1] logs reduce to the same values.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    @property
    def metrics(self):
        return list(self.trackers.values())

    @classmethod
    def from_config(cls, config):
        """A stored config (a run's model_config, a saved model): an attention option it lacks
        takes its value of before the option (hse_tf.layers.attention_config.BEFORE)."""
        if "attention" in (config.get("low_encoder"), config.get("high_encoder")):
            config = {**config, "attention": as_before(config.get("attention") or {})}
        return super().from_config(config)

    def get_config(self):
        return {**super().get_config(), "feature_dim": self.feature_dim,
                "vocab_size": self.vocab_size, "word_dim": self.word_dim, "hidden": self.hidden,
                "hierarchical": self.hierarchical, "flat_context": self.flat_context,
                "loss": self.loss_config, "gru_implementation": self.gru_implementation,
                "low_encoder": self.low_encoder, "high_encoder": self.high_encoder,
                "attention": self.attention}


def dummy_batch(feature_dim, clips=(2, 1), frames=3, words=4):
    """A tiny valid batch, to build a model's weights before loading them."""
    m = sum(clips)
    b = len(clips)
    return {
        "frames": np.zeros((m * frames, feature_dim), np.float32),
        "frame_lengths": np.full((m,), frames, np.int32),
        "clip_counts": np.asarray(clips, np.int32),
        "flat_frames": np.zeros((b * frames, feature_dim), np.float32),
        "flat_lengths": np.full((b,), frames, np.int32),
        "words": np.full((m * words,), 2, np.int32),
        "word_lengths": np.full((m,), words, np.int32),
        "sentence_counts": np.asarray(clips, np.int32),
        "index": np.arange(b, dtype=np.int32),
    }
