"""Evaluation: embedding a split (embedding), the evaluators picked by name (evaluators), and
the printed tables (tables). The retrieval maths themselves live in hse_tf.metrics."""

from hse_tf.evaluation.embedding import embed_fn, embed_split
from hse_tf.evaluation.evaluators import EVALUATORS, retrieval
from hse_tf.evaluation.tables import format_table
