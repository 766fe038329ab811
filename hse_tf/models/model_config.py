"""ModelConfig: which model and encoders a run trains, with its defaults and flags."""

import dataclasses

from hse_tf.data.options import option
from hse_tf.layers.encoders import DEFAULT_HIDDEN, ENCODERS
from hse_tf.layers.gru_implementations import GRU_IMPLEMENTATIONS


def _models():
    from hse_tf.models.registry import MODELS
    return sorted(MODELS)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model options of a run (run_config.json keys; the trainer's flags). The attention
    encoders' own options are layers.AttentionConfig."""

    model: str = option("hse", "Model from the registry.", choices=_models)
    hidden: int = option(DEFAULT_HIDDEN, "Hidden size of every encoder.", lower_bound=1)
    encoder: str = option("gru", "Encoder of every level: the paper's GRU, or pre-norm "
                          "Transformer blocks (hse_tf.layers.AttentionEncoder).",
                          choices=sorted(ENCODERS))
    low_encoder: str = option(None, "Frames -> clip and words -> sentence encoder (default: "
                              "--encoder).", choices=sorted(ENCODERS))
    high_encoder: str = option(None, "Clips -> video and sentences -> paragraph encoder "
                               "(default: --encoder).", choices=sorted(ENCODERS))
    flat_context: bool = option(True, "Flat embeddings as the high-level GRUs' initial state "
                                "(and their own match loss).")
    gru_implementation: str = option(
        "auto", "GRU code: 'packed' (hse_tf/layers/packed_gru.py: no steps spent on padding, a "
        "hand-written backward pass; the CPU path), 'keras' (keras.layers.GRU: cuDNN on a "
        "GPU), 'auto' = keras where TensorFlow sees a GPU, else packed. Same maths and "
        "weights: checkpoints work with both.", choices=GRU_IMPLEMENTATIONS)


DEFAULTS = ModelConfig()
