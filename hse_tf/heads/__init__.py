"""Downstream heads on frozen HSE embeddings: zero-shot recognition, the MLP classifier, and
their jobs (jobs). Captioning has its own package, hse_tf.caption."""
