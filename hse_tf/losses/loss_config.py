"""LossConfig: the HSE objective's options (Eq. 11 and COOT's cycle term), defaults and flags."""

import dataclasses

from hse_tf.data.options import option


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Options of hse_tf.losses.HSELoss (run_config.json keys; the trainer's flags)."""

    margin_high: float = option(0.2, "alpha: video/paragraph match margin.")
    margin_low: float = option(0.2, "beta: clip/sentence match margin.")
    gamma: float = option(0.2, "Cluster-loss margin.")
    hardest_negative: bool = option(False, "Hardest negative (max) instead of the sum.")
    w_match_high: float = option(1.0, "Weight of the high-level match loss (0: off).")
    w_match_low: float = option(1.0, "Weight of the low-level match loss (0: off).")
    w_cluster_high: float = option(1.0, "Weight of the high-level cluster loss (0: off).")
    w_cluster_low: float = option(1.0, "Weight of the low-level cluster loss (0: off).")
    w_match_flat: float = option(1.0, "Weight of the flat-context match loss (0: off).")
    tau_high: float = option(5e-4, "Reconstruction weight, clip/sentence level (0: off).")
    tau_low: float = option(1e-4, "Reconstruction weight, frame/word level (0: off).")
    weak_low: bool = option(False, "Weak correspondence: block-mean low-level match.")
    w_cycle: float = option(0.0, "Weight of COOT's cross-modal cycle-consistency loss between "
                            "a video's clips and its sentences (0: off, as in HSE).",
                            lower_bound=0.0)


DEFAULTS = LossConfig()
OPTIONS = tuple(f.name for f in dataclasses.fields(LossConfig))
