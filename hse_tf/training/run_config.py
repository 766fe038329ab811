"""A run's config: the fields of the parts' typed configs, each owned by its part, recorded in
run_config.json under the trainer's flag names. Imports no TensorFlow (the trainer's flags are
made from it before TensorFlow loads)."""

from hse_tf.data.data_config import DataConfig
from hse_tf.data.options import defaults
from hse_tf.layers.attention_config import AttentionConfig
from hse_tf.losses.loss_config import LossConfig
from hse_tf.models.model_config import ModelConfig
from hse_tf.training.train_config import TrainConfig

RUN_CONFIGS = (DataConfig, ModelConfig, AttentionConfig, LossConfig, TrainConfig)


def run_config_keys():
    """The keys of a run config (= the trainer's flags a run records), in order."""
    return list(defaults(*RUN_CONFIGS))


def run_defaults():
    """A run config of every default (the trainer's flags untouched)."""
    return defaults(*RUN_CONFIGS)
