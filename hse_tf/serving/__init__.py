"""Serving: the gRPC client, and a development stand-in for TF Serving with its request limits
(`python -m hse_tf.serving.server`, `python -m hse_tf.serving.client`)."""
