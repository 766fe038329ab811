"""Readers for the released layouts, text processing and the tf.data pipeline; DataConfig, the
run's data options."""

from hse_tf.data.data_config import DataConfig  # noqa: F401
