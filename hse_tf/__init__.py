"""hse_tf: hierarchical cross-modal video-text embeddings (HSE) in TensorFlow / Keras 3."""

__version__ = "0.1.0"
