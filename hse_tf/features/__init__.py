"""From video files to frame features: decoding (PyAV), backbones (keras.applications),
extraction to the project's feature layouts (`python -m hse_tf.features extract`)."""
