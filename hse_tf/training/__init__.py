"""Training: the trainer (trainer), run configs and run folders (runs), the run folder's layout
and checkpoints (checkpoints), the per-epoch callbacks (callbacks) and the optimizer
(optimizer). `python -m hse_tf.train` is the command over it."""

from hse_tf.training.trainer import TrainOptions, claim_run_dir, make_strategy, train
from hse_tf.training.train_config import TrainConfig
