"""SavedModel export for TF Serving: `python -m hse_tf.export --checkpoint RUN --out models/`.

The names below load on first use, so that `python -m hse_tf.export` can hide TensorFlow's
start-up lines before TensorFlow is imported (hse_tf.cli).
"""

import importlib

_NAMES = {"Member": "exporter", "export_caption": "exporter", "export_classifier": "exporter",
          "export_encoders": "exporter", "export_features": "exporter",
          "write_export": "exporter", "write_saved_model": "exporter",
          "latest_version": "layout", "next_version": "layout"}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name not in _NAMES:
        raise AttributeError(f"module 'hse_tf.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hse_tf.export.{_NAMES[name]}"), name)
