"""SavedModel export for TF Serving: `python -m hse_tf.export --checkpoint RUN --out models/`."""

from hse_tf.export.exporter import (export_caption, export_classifier, export_encoders,
                                    export_features, write_saved_model)
from hse_tf.export.layout import latest_version, next_version

__all__ = ["export_caption", "export_classifier", "export_encoders", "export_features", "latest_version",
           "next_version", "write_saved_model"]
