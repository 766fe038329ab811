"""The total HSE objective (Eq. 11) as a Keras layer, every term switchable and reported."""

import keras
import tensorflow as tf

from hse_tf.losses import ranking, reconstruction
from hse_tf.losses.cycle import cycle_consistency
from hse_tf.losses.loss_config import DEFAULTS, OPTIONS  # noqa: F401 (OPTIONS: re-exported)

# Every term the objective can report, in report order. The options that configure it are
# LossConfig's fields (OPTIONS: the run config's keys and the trainer's flags).
TERMS = ("match_high", "cluster_high", "match_low", "cluster_low", "match_flat", "recon_high",
         "recon_low", "cycle")
# Terms that need the low level (clips and sentences) and, for match_flat, the flat context.
_LOW_LEVEL = ("match_low", "cluster_low", "recon_high", "recon_low", "cycle")


@keras.saving.register_keras_serializable(package="hse_tf")
class HSELoss(keras.layers.Layer):
    """Combines match, cluster, flat-context and reconstruction terms.

    call(video_out, text_out) takes the towers' output dicts (see HSEModel) and returns a dict of
    the weighted terms plus 'loss', their sum. A weight of 0 removes a term (and its work);
    `active_terms` says which terms a model reports.

    w_cycle: COOT's cross-modal cycle consistency between a video's clips and its sentences
    (hse_tf.losses.cycle), off by default (HSE has no such term).
    """

    def __init__(self, margin_high=DEFAULTS.margin_high, margin_low=DEFAULTS.margin_low,
                 gamma=DEFAULTS.gamma, hardest_negative=DEFAULTS.hardest_negative,
                 w_match_high=DEFAULTS.w_match_high, w_match_low=DEFAULTS.w_match_low,
                 w_cluster_high=DEFAULTS.w_cluster_high, w_cluster_low=DEFAULTS.w_cluster_low,
                 w_match_flat=DEFAULTS.w_match_flat, tau_high=DEFAULTS.tau_high,
                 tau_low=DEFAULTS.tau_low, weak_low=DEFAULTS.weak_low,
                 w_cycle=DEFAULTS.w_cycle, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # GRU outputs carry Keras masks; the loss ignores them
        self.margin_high, self.margin_low, self.gamma = margin_high, margin_low, gamma
        self.hardest_negative = hardest_negative
        self.w_match_high, self.w_match_low = w_match_high, w_match_low
        self.w_cluster_high, self.w_cluster_low = w_cluster_high, w_cluster_low
        self.w_match_flat = w_match_flat
        self.tau_high, self.tau_low = tau_high, tau_low
        self.weak_low = weak_low
        self.w_cycle = w_cycle

    def weight(self, term):
        return {"match_high": self.w_match_high, "cluster_high": self.w_cluster_high,
                "match_low": self.w_match_low, "cluster_low": self.w_cluster_low,
                "match_flat": self.w_match_flat, "recon_high": self.tau_high,
                "recon_low": self.tau_low, "cycle": self.w_cycle}[term]

    def active_terms(self, hierarchical=True, flat_context=True):
        """The terms (in TERMS order) that a model with this hierarchy computes and reports."""
        def on(term):
            if not self.weight(term):
                return False
            if term == "match_flat":
                return hierarchical and flat_context
            return hierarchical or term not in _LOW_LEVEL
        return [t for t in TERMS if on(t)]

    def call(self, video_out, text_out, clip_counts=None, sentence_counts=None):
        # Under mixed precision the towers' outputs are bfloat16/float16: the loss is float32.
        video_out, text_out = (
            {k: tf.cast(x, self.compute_dtype) if x.dtype.is_floating else x
             for k, x in d.items()} for d in (video_out, text_out))
        hard = self.hardest_negative
        v, p = video_out["video"], text_out["paragraph"]
        terms = {}
        if self.w_match_high:
            terms["match_high"] = self.w_match_high * ranking.match_loss(v, p, self.margin_high, hard)
        if self.w_cluster_high:
            terms["cluster_high"] = self.w_cluster_high * ranking.cluster_loss(v, p, self.gamma, hard)
        if "clips" in video_out and "sentences" in text_out:
            c, s = video_out["clips"], text_out["sentences"]
            if self.w_match_low:
                if self.weak_low:
                    low = ranking.weak_match_loss(c, s, clip_counts, sentence_counts,
                                                  self.margin_low, hard)
                else:
                    low = ranking.match_loss(c, s, self.margin_low, hard)
                terms["match_low"] = self.w_match_low * low
            # Clip-clip / sentence-sentence clustering needs no pairing, so it stays in weak mode.
            if self.w_cluster_low:
                terms["cluster_low"] = self.w_cluster_low * ranking.cluster_loss(
                    c, s, self.gamma, hard)
        if self.w_match_flat and "flat" in video_out and "flat" in text_out:
            terms["match_flat"] = self.w_match_flat * ranking.match_loss(
                video_out["flat"], text_out["flat"], self.margin_high, hard)
        if self.w_cycle and "clips" in video_out and "sentences" in text_out:
            terms["cycle"] = self.w_cycle * cycle_consistency(
                video_out["clips"], text_out["sentences"], clip_counts, sentence_counts)
        b = tf.shape(v)[0]
        if self.tau_high and "recon_high" in video_out:
            terms["recon_high"] = self.tau_high * (
                reconstruction.vector_reconstruction(video_out["recon_high"], video_out["clips"], b)
                + reconstruction.vector_reconstruction(text_out["recon_high"],
                                                       text_out["sentences"], b))
        if self.tau_low and "recon_low" in video_out:
            terms["recon_low"] = self.tau_low * (
                reconstruction.sequence_reconstruction(
                    video_out["recon_low"], video_out["frames_padded"],
                    video_out["frame_lengths"], b)
                + reconstruction.sequence_reconstruction(
                    text_out["recon_low"], text_out["words_padded"], text_out["word_lengths"], b))
        terms["loss"] = tf.add_n(list(terms.values()))
        return terms

    def get_config(self):
        return {**super().get_config(), "margin_high": self.margin_high,
                "margin_low": self.margin_low, "gamma": self.gamma,
                "hardest_negative": self.hardest_negative, "w_match_high": self.w_match_high,
                "w_match_low": self.w_match_low, "w_cluster_high": self.w_cluster_high,
                "w_cluster_low": self.w_cluster_low, "w_match_flat": self.w_match_flat,
                "tau_high": self.tau_high, "tau_low": self.tau_low, "weak_low": self.weak_low,
                "w_cycle": self.w_cycle}
