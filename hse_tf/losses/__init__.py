"""HSE losses: ranking (match / cluster / weak), reconstruction, and the combined HSELoss layer."""

from hse_tf.losses.hse_loss import HSELoss
