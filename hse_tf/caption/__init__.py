"""Video captioning on frozen HSE embeddings (`python -m hse_tf.caption`): the captioner
(captioner), its training and evaluation jobs (jobs) and the COCO caption metrics (metrics)."""
