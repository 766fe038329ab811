"""Sequence encoders by name: every level of both towers takes one of these (values + lengths
in, one embedding per row out), so a config picks them by flag.

(The layers load when first built: the names, defaults and configs here import no TensorFlow,
so that a command's flags parse before TensorFlow loads.)"""

from hse_tf.layers.attention_config import DEFAULTS, OPTIONS

DEFAULT_HIDDEN = 1024  # the paper's hidden size, of every encoder


def _gru(units, gru_implementation, attention, name):
    from hse_tf.layers.sequence_encoder import SequenceEncoder
    return SequenceEncoder(units, gru_implementation, name=name)


def _attention(units, gru_implementation, attention, name):
    from hse_tf.layers.attention_encoder import AttentionEncoder
    return AttentionEncoder(units, **(attention or {}), name=name)


ENCODERS = {
    "gru": _gru,  # the paper's: a GRU, max-pooled over valid steps (packed on CPUs)
    "attention": _attention,  # pre-norm Transformer blocks, pooled over valid steps
}
ATTENTION_OPTIONS = OPTIONS  # hse_tf.layers.AttentionConfig's fields


def level_options(attention, hidden, context_dim=None):
    """One level's AttentionEncoder options. context_dim (its feature size) is given at the
    clip -> video and sentence -> paragraph level (the high level): contextual attention
    (COOT) only there. The blocks' width (--width, or --width_ratio x hidden) applies below
    it, over frames and words, where nearly all the steps are; the high level (a few clips or
    sentences a row) runs at the hidden size."""
    options = dict(attention or {})
    contextual = options.pop("contextual", False)
    width = options.pop("width", DEFAULTS.width)
    ratio = options.pop("width_ratio", DEFAULTS.width_ratio)
    if context_dim:
        if contextual:
            options.update(contextual=True, context_dim=context_dim)
    else:
        heads = options.get("heads", DEFAULTS.heads)
        options["width"] = width or heads * max(1, round(ratio * hidden / heads))
    return options


def is_contextual(kind, attention):
    return kind == "attention" and bool((attention or {}).get("contextual"))


def make_encoder(kind, units, gru_implementation="auto", attention=None, name=None):
    """The encoder `kind` ('gru' or 'attention'); `attention`: AttentionEncoder options."""
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder {kind!r}; choose from {sorted(ENCODERS)}")
    return ENCODERS[kind](units, gru_implementation, attention, name)
