"""The TF Serving folder layout: MODEL_DIR/<integer version>/saved_model.pb.

One place that reads it, for the exporter (next version), the stand-in server (which versions
to load) and the index builder (the latest version).
"""

import os
import re


def versions(model_dir, servable=True):
    """Sorted integer versions under `model_dir`; with `servable`, only those holding a
    saved_model.pb (half-written exports never qualify: they are written atomically)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n) and (
        not servable or os.path.exists(os.path.join(model_dir, n, "saved_model.pb"))))


def next_version(model_dir):
    """1 + the highest integer version folder under `model_dir` (1 when there is none)."""
    return max(versions(model_dir, servable=False), default=0) + 1


def latest_version(model_dir):
    """Path of the highest servable version under `model_dir`."""
    found = versions(model_dir)
    if not found:
        raise FileNotFoundError(f"{model_dir}: no <version>/saved_model.pb (export with "
                                f"'python -m hse_tf.export')")
    return os.path.join(model_dir, str(found[-1]))
