"""HSE losses: ranking (match / cluster / weak), reconstruction, COOT's cycle consistency, and
the combined HSELoss layer that owns the terms. The layer loads (with TensorFlow) when first
used; LossConfig imports no TensorFlow."""

from hse_tf import lazy_exports
from hse_tf.losses.loss_config import LossConfig

__getattr__, __dir__ = lazy_exports(__name__, {"HSELoss": "hse_tf.losses.hse_loss"})
