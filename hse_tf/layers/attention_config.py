"""AttentionConfig: the attention encoders' options, their defaults and their flags, in one place."""

import dataclasses

from hse_tf.data.options import option

POSITIONS = ("sinusoidal", "learned")
POOLINGS = ("mean_max", "cls", "attention")


@dataclasses.dataclass(frozen=True)
class AttentionConfig:
    """Options of every attention encoder of a run (hse_tf.layers.AttentionEncoder): the trainer
    makes a flag of each field (same name), saves them in run_config.json, and evaluation,
    export and the heads rebuild the encoders from them."""

    layers: int = option(1, "Attention encoders: Transformer blocks.", lower_bound=1)
    heads: int = option(4, "Attention encoders: heads (must divide --hidden).", lower_bound=1)
    width: int = option(0, "Attention encoders over frames and words (the low level, where "
                        "nearly all the steps are): the width their Transformer blocks run at "
                        "(0: --width_ratio x --hidden); a projection maps each pooled output to "
                        "--hidden. The clips' and sentences' blocks (a few steps a row) run at "
                        "--hidden.", lower_bound=0)
    width_ratio: float = option(0.5, "Attention encoders: the low level's block width as a "
                                "multiple of --hidden (rounded to a multiple of --heads), where "
                                "--width is 0 (0.5: trains faster than the packed GRU on CPUs; "
                                "1 before this option, and in runs from before it).",
                                lower_bound=0.0625, upper_bound=4.0)
    ff_dim: int = option(0, "Attention encoders: feed-forward width (0: --ff_ratio x the blocks' "
                         "width).", lower_bound=0)
    ff_ratio: float = option(1.0, "Attention encoders: feed-forward width as a multiple of the "
                             "blocks' width (over frames and words --width or --width_ratio x "
                             "--hidden, over clips and sentences --hidden), where --ff_dim is 0 "
                             "(1: COOT's width; 2 before this option, and in runs from before "
                             "it).", lower_bound=0.25, upper_bound=8.0)
    dropout: float = option(0.0, "Attention encoders: dropout of attention and residuals "
                            "(0: none, the default since 2026-12-04; 0.1 before, and in runs "
                            "from before).", lower_bound=0.0, upper_bound=0.9)
    positions: str = option("sinusoidal", "Attention encoders: position encoding.",
                            choices=POSITIONS)
    pooling: str = option("attention", "Attention encoders: 'attention' (COOT's attention-aware "
                          "pooling: a learned softmax weighting of the valid steps, per head; "
                          "the best of bench/quality.py), mean + max over the valid steps, or a "
                          "CLS token.", choices=POOLINGS)
    contextual: bool = option(False, "Attention at the clip -> video and sentence -> paragraph "
                              "level: every block also attends over the whole video's frames "
                              "(the whole paragraph's words), COOT's contextual attention. "
                              "Needs --high_encoder=attention.")
    context_layers: int = option(1, "Contextual attention: Transformer blocks that encode the "
                                 "context (the frames or words) before it is attended to, as "
                                 "COOT does (0: the raw projected context).", lower_bound=0)


DEFAULTS = AttentionConfig()
OPTIONS = tuple(f.name for f in dataclasses.fields(AttentionConfig))
# Runs from before an option existed behave as they did: their configs lack the key.
BEFORE = {"context_layers": 0, "pooling": "mean_max", "ff_ratio": 2.0, "width_ratio": 1.0,
          "dropout": 0.1}


def with_defaults(options):
    """Every attention option: today's default where `options` lacks one. A new model keeps
    (and saves) these, so that a saved config is whole and `as_before` never changes it."""
    return {**dataclasses.asdict(DEFAULTS), **options}


def as_before(options):
    """A stored config's attention options (a run's, a saved model's): each option it lacks
    takes its value of before the option (BEFORE), not today's default."""
    return {**BEFORE, **options}
