"""HSE losses: ranking (match / cluster / weak), reconstruction, COOT's cycle consistency, and
the combined HSELoss layer that owns the terms."""

from hse_tf.losses.hse_loss import HSELoss
from hse_tf.losses.loss_config import LossConfig
