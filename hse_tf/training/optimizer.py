"""Optimizer and the paper's learning-rate schedule (x0.1 every 10 epochs), with an optional
linear warm-up (COOT warms attention up)."""

import keras


@keras.saving.register_keras_serializable(package="hse_tf")
class LinearWarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule`(step) * min(1, (step + 1) / warmup_steps): the rate climbs linearly over the
    first warmup_steps steps, then follows `schedule`. A function of the optimizer's step
    count, so a resumed run has the right rate."""

    def __init__(self, schedule, warmup_steps):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule, self.warmup_steps = schedule, int(warmup_steps)

    def __call__(self, step):
        ramp = (keras.ops.cast(step, "float32") + 1.0) / float(max(self.warmup_steps, 1))
        return self.schedule(step) * keras.ops.minimum(1.0, ramp)

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule),
                "warmup_steps": self.warmup_steps}


def make_schedule(cfg, steps_per_epoch):
    """The run's learning rate by optimizer step: --lr x --lr_decay_factor every
    --lr_decay_every epochs (Keras' ExponentialDecay, staircase), after a linear warm-up of
    --warmup_epochs (runs from before the flag: none)."""
    steps_per_epoch = max(1, steps_per_epoch)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        cfg["lr"], decay_steps=steps_per_epoch * cfg["lr_decay_every"],
        decay_rate=cfg["lr_decay_factor"], staircase=True)
    warmup = round(cfg.get("warmup_epochs", 0.0) * steps_per_epoch)
    return LinearWarmUp(schedule, warmup) if warmup else schedule


def make_optimizer(cfg, steps_per_epoch):
    # clipnorm: each variable's gradient separately; global_clipnorm: all of them together.
    clip = cfg.get("clipnorm") or None
    global_clip = cfg.get("global_clipnorm") or None
    if clip and global_clip:
        raise ValueError("set --clipnorm or --global_clipnorm, not both")
    return keras.optimizers.Adam(learning_rate=make_schedule(cfg, steps_per_epoch),
                                 clipnorm=clip, global_clipnorm=global_clip)
