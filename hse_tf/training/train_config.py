"""TrainConfig: how a run trains (epochs, optimizer, schedule, seed), defaults and flags."""

import dataclasses

from hse_tf.data.options import option

# --mixed_precision: the Keras dtype policy of the towers
MIXED_POLICIES = {"none": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training options of a run (run_config.json keys; the trainer's flags)."""

    epochs: int = option(15, "Epochs.", lower_bound=1)
    batch_size: int = option(64, "Videos per batch (global).", lower_bound=1)
    lr: float = option(1e-3, "Adam learning rate.")
    lr_decay_every: int = option(10, "Epochs between learning-rate decays.", lower_bound=1)
    lr_decay_factor: float = option(0.1, "Learning-rate decay factor.")
    warmup_epochs: float = option(0.0, "Linear learning-rate warm-up over this many epochs "
                                  "(0: none, the paper's).", lower_bound=0.0)
    clipnorm: float = option(0.0, "Clip EACH variable's gradient to this norm separately (0: "
                             "off, the paper's setting).")
    global_clipnorm: float = option(0.0, "Clip the global norm of all gradients together, the "
                                    "common choice (0: off).")
    seed: int = option(0, "Random seed (init, shuffling).")
    eval_every: int = option(1, "Validation retrieval every N epochs (0: only at the end).")
    mixed_precision: str = option(
        "none", "Compute the towers in bfloat16 or float16 (variables and losses stay "
        "float32; float16 adds loss scaling). For GPUs (and CPUs with bfloat16 units).",
        choices=list(MIXED_POLICIES))
    bucket_window: int = option(0, "Length bucketing: sort each window of this many batches "
                                "of the shuffled epoch by paragraph length, cut it into "
                                "batches and draw the batches in random order (0, the "
                                "default: plain shuffling; docs/benchmarks.md has its "
                                "measurements).")


DEFAULTS = TrainConfig()
