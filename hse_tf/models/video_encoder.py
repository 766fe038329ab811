"""The video tower: frames -> clips -> video (HSE), or frames -> video (FSE)."""

import keras
import tensorflow as tf

from hse_tf.layers import (DEFAULT_HIDDEN, SequenceDecoder, is_contextual, level_options,
                           make_encoder, pad_rows)


@keras.saving.register_keras_serializable(package="hse_tf")
class VideoEncoder(keras.Model):
    """call(batch dict) -> dict of unnormalised embeddings.

    Inputs (see hse_tf.data.pipeline): frames [F, D], frame_lengths [M], clip_counts [B],
    flat_frames [G, D], flat_lengths [B].
    Outputs: 'video' [B, H]; HSE adds 'clips' [M, H] and, with flat context, 'flat' [B, H];
    with reconstruction, 'recon_high' [M, H], 'recon_low' [M, T, D] and their targets.

    The clip GRU (ENC_v1) runs once over the real clips of the whole batch plus the whole-video
    flat sequences (same weights, one padded call): never over padding clips.
    """

    def __init__(self, feature_dim, hidden=DEFAULT_HIDDEN, hierarchical=True, flat_context=True,
                 reconstruct=False, gru_implementation="auto", low_encoder="gru",
                 high_encoder="gru", attention=None, **kwargs):
        super().__init__(**kwargs)
        self.feature_dim, self.hidden = feature_dim, hidden
        self.gru_implementation = impl = gru_implementation
        self.hierarchical, self.flat_context = hierarchical, flat_context
        self.reconstruct = reconstruct and hierarchical
        # low: frames -> clip (and the flat video); high: clips -> video (hse_tf.layers.ENCODERS)
        self.low_encoder, self.high_encoder = low_encoder, high_encoder
        self.attention = dict(attention or {})
        self.clip_encoder = make_encoder(low_encoder, hidden, impl,
                                         level_options(self.attention, hidden), "clip_encoder")
        # contextual (COOT): clips also attend over the whole video's frames
        self.contextual = hierarchical and is_contextual(high_encoder, self.attention)
        if hierarchical:
            self.video_encoder = make_encoder(high_encoder, hidden, impl,
                                              level_options(self.attention, hidden, feature_dim),
                                              "video_encoder")
        if self.reconstruct:
            self.video_decoder = SequenceDecoder(hidden, impl, name="video_decoder")
            self.clip_decoder = SequenceDecoder(feature_dim, impl, name="clip_decoder")

    def build(self, input_shape=None):
        """Every weight from the config alone (the batch dict's sizes add nothing)."""
        self.clip_encoder.build((None, None, self.feature_dim))
        if self.hierarchical:
            self.video_encoder.build((None, None, self.hidden))
        if self.reconstruct:
            self.video_decoder.build((None, self.hidden))
            self.clip_decoder.build((None, self.hidden))
        self.built = True

    def call(self, inputs, training=None, decode=True):
        # decode=False: embeddings only (serving), skipping the reconstruction decoders.
        flat_frames, flat_lengths = inputs["flat_frames"], inputs["flat_lengths"]
        if not self.hierarchical:
            return {"video": self.clip_encoder(flat_frames, flat_lengths)}
        frames, frame_lengths = inputs["frames"], inputs["frame_lengths"]
        clip_counts = inputs["clip_counts"]
        m = tf.shape(frame_lengths)[0]
        if self.flat_context:
            values = tf.concat([frames, flat_frames], axis=0)
            lengths = tf.concat([frame_lengths, flat_lengths], axis=0)
        else:
            values, lengths = frames, frame_lengths
        low = self.clip_encoder(values, lengths)
        clips = low[:m]
        flat = low[m:] if self.flat_context else None
        context = {"context": (flat_frames, flat_lengths)} if self.contextual else {}
        video = self.video_encoder(clips, clip_counts, initial_state=flat, **context)
        out = {"video": video, "clips": clips}
        if flat is not None:
            out["flat"] = flat
        if self.reconstruct and decode:
            high = self.video_decoder(video, clip_counts)  # [B, C, H]
            recon_clips = tf.boolean_mask(high, tf.sequence_mask(clip_counts, tf.shape(high)[1]))
            out.update(recon_high=recon_clips,
                       recon_low=self.clip_decoder(recon_clips, frame_lengths),
                       frames_padded=pad_rows(frames, frame_lengths),
                       frame_lengths=frame_lengths)
        return out

    def get_config(self):
        return {**super().get_config(), "feature_dim": self.feature_dim, "hidden": self.hidden,
                "hierarchical": self.hierarchical, "flat_context": self.flat_context,
                "reconstruct": self.reconstruct, "gru_implementation": self.gru_implementation,
                "low_encoder": self.low_encoder, "high_encoder": self.high_encoder,
                "attention": self.attention}
