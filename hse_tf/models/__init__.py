"""HSE / FSE models: the two towers and the task model."""

from hse_tf.layers.encoders import DEFAULT_HIDDEN
from hse_tf.models.hse_model import HSEModel, dummy_batch
from hse_tf.models.model_config import ModelConfig
from hse_tf.models.registry import MODELS, build_model
from hse_tf.models.text_encoder import TextEncoder
from hse_tf.models.video_encoder import VideoEncoder
