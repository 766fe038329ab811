"""Video captioning on HSE embeddings: metrics (and the captioning head)."""
