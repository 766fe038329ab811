"""Visualisation: t-SNE of video embeddings (Fig. 5) and qualitative retrieval reports."""
