"""HSE / FSE models: the two towers and the task model. The models load (with TensorFlow) when
first used; the registry and ModelConfig import no TensorFlow."""

from hse_tf import lazy_exports
from hse_tf.layers.encoders import DEFAULT_HIDDEN
from hse_tf.models.model_config import ModelConfig
from hse_tf.models.registry import MODELS, build_model

__getattr__, __dir__ = lazy_exports(__name__, {
    "HSEModel": "hse_tf.models.hse_model", "dummy_batch": "hse_tf.models.hse_model",
    "TextEncoder": "hse_tf.models.text_encoder", "VideoEncoder": "hse_tf.models.video_encoder"})
