"""`option`: a typed config's field with the metadata its command-line flag is made from.

Each part of a run owns a frozen dataclass of its options (data.DataConfig,
models.ModelConfig, layers.AttentionConfig, losses.LossConfig, training.TrainConfig); the
trainer makes one flag per field (hse_tf.cli.define_flags), records the fields in
run_config.json, and every reader of a run takes the defaults from the same classes."""

import dataclasses

EVAL_BATCH_SIZE = 64  # videos per batch when a split is embedded (evaluation, heads, training)
# The evaluation protocol's defaults (here, without TensorFlow, for the evaluate command's flags):
INCOMPLETE_MAX_K = 5  # incomplete observation: the first k clips for k = 1..this (Fig. 4)
PROPOSAL_COUNTS = (1, 2, 3, 4)  # uniform proposals: K clips per video (Table 4)


def option(default, help, **meta):
    """A field: its default, its flag's help, and optionally choices (a sequence, or a function
    returning one, for registries that import TensorFlow), lower_bound, upper_bound."""
    return dataclasses.field(default=default, metadata={"help": help, **meta})


def defaults(*configs):
    """{field: default} of the given config classes, in field order."""
    return {f.name: f.default for c in configs for f in dataclasses.fields(c)}
