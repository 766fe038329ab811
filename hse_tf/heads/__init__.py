"""Downstream heads on frozen HSE embeddings: zero-shot recognition, MLP classifier."""
