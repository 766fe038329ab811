"""Optimizer and the paper's learning-rate schedule (x0.1 every 10 epochs)."""

import keras


@keras.saving.register_keras_serializable(package="hse_tf")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr * factor ** floor(step / (steps_per_epoch * every_epochs)).

    A function of the optimizer's step count, so a resumed run has the right rate.
    """

    def __init__(self, initial, steps_per_epoch, every_epochs=10, factor=0.1):
        self.initial, self.steps_per_epoch = initial, steps_per_epoch
        self.every_epochs, self.factor = every_epochs, factor

    def __call__(self, step):
        period = keras.ops.cast(self.steps_per_epoch * self.every_epochs, "float32")
        k = keras.ops.floor(keras.ops.cast(step, "float32") / period)
        return self.initial * keras.ops.power(self.factor, k)

    def get_config(self):
        return {"initial": self.initial, "steps_per_epoch": self.steps_per_epoch,
                "every_epochs": self.every_epochs, "factor": self.factor}


def make_optimizer(cfg, steps_per_epoch):
    schedule = StepDecay(cfg["lr"], max(1, steps_per_epoch), cfg["lr_decay_every"],
                         cfg["lr_decay_factor"])
    # clipnorm: each variable's gradient separately; global_clipnorm: all of them together.
    clip = cfg.get("clipnorm") or None
    global_clip = cfg.get("global_clipnorm") or None
    if clip and global_clip:
        raise ValueError("set --clipnorm or --global_clipnorm, not both")
    return keras.optimizers.Adam(learning_rate=schedule, clipnorm=clip, global_clipnorm=global_clip)
