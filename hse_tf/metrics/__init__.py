"""Metric maths, separate from I/O."""

from hse_tf.metrics.retrieval import (bidirectional_retrieval, chunked_ranks, group_ranks,
                                      ranks_from_similarity, recall_metrics)
