"""Readers for the released layouts, text processing and the tf.data pipeline."""
