"""Metric maths, separate from I/O."""

from hse_tf.metrics.retrieval import (NonFiniteError, bidirectional_retrieval, check_finite,
                                      chunked_ranks, group_ranks, ranks_from_similarity,
                                      recall_metrics)
