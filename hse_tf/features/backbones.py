"""Frame backbones by name: the network, its input size, feature size, preprocessing and the
ImageNet weights file Keras downloads for it.

    inception_v3       the paper's Inception-V3 (ImageNet), average-pooled 2048-d, 299 x 299
    efficientnetv2_b0  EfficientNetV2-B0 (ImageNet-1k), 1280-d, 224 x 224: ~8x fewer FLOPs
    convnext_tiny      ConvNeXt-Tiny (ImageNet-1k), 768-d, 224 x 224: a stronger modern net

Each backbone owns its preprocessing: frames are resized (shorter side to the input size,
antialiased) and centre-cropped by the extractor, then scaled the way the network was trained
(`scaling`: 'inception' maps [0, 255] to [-1, 1]; 'in_model' means the network's own first
layers normalise [0, 255] input).
"""

import dataclasses
import os

import keras
import numpy as np

from hse_tf.data.errors import DataError

_WEIGHTS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class Backbone:
    name: str
    application: str        # the keras.applications constructor
    image_size: int
    dim: int
    scaling: str            # 'inception' or 'in_model'
    weights_file: str       # ImageNet weights without the classifier, as Keras caches them
    weights_url: str
    weights_hash: str
    extra_args: tuple = ()  # extra keyword arguments of the constructor

    def build(self, weights="imagenet", seed=0):
        """The pooled network (no classifier): float [N, S, S, 3] -> [N, dim].

        weights: 'imagenet' (Keras' cached download), None or 'none' (random, seeded: tests and
        benchmarks only) or the path of a weights file."""
        constructor = getattr(keras.applications, self.application)
        path = {"imagenet": None, "none": None}.get(weights, weights)
        if weights == "imagenet":
            path = imagenet_weights(self)
        if path is not None and not os.path.exists(path):
            raise DataError("weights file does not exist", file=path, field="weights")
        model = constructor(include_top=False, weights=path, pooling="avg",
                            input_shape=(self.image_size, self.image_size, 3),
                            **dict(self.extra_args))
        if path is None:
            seeded_init(model, seed)
        return model


BACKBONES = {b.name: b for b in (
    Backbone("inception_v3", "InceptionV3", 299, 2048, "inception",
             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
             _WEIGHTS_BASE + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
             "bcbd6486424b2319ff4ef7d526e38f63"),
    Backbone("efficientnetv2_b0", "EfficientNetV2B0", 224, 1280, "in_model",
             "efficientnetv2-b0_notop.h5",
             _WEIGHTS_BASE + "efficientnet_v2/efficientnetv2-b0_notop.h5",
             "893217f2bb855e2983157299931e43ff", (("include_preprocessing", True),)),
    Backbone("convnext_tiny", "ConvNeXtTiny", 224, 768, "in_model",
             "convnext_tiny_notop.h5", _WEIGHTS_BASE + "convnext/convnext_tiny_notop.h5",
             "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
             (("include_preprocessing", True),)),
)}


def get_backbone(name):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name]


def imagenet_weights(backbone):
    """Path of the backbone's ImageNet weights, downloaded by Keras into its cache on first use.
    Offline, one error line says which file to place where."""
    cache = os.path.join(keras.config.keras_home() if hasattr(keras.config, "keras_home")
                         else os.path.expanduser("~/.keras"), "models")
    try:
        return keras.utils.get_file(backbone.weights_file, backbone.weights_url,
                                    cache_subdir="models", file_hash=backbone.weights_hash)
    except Exception as e:  # Keras raises a bare Exception for URL failures
        raise WeightsUnavailable(
            f"cannot get the ImageNet weights of {backbone.name} ({e}). Offline, download "
            f"{backbone.weights_url} elsewhere and place it at "
            f"{os.path.join(cache, backbone.weights_file)}, or pass --weights PATH") from None


class WeightsUnavailable(OSError):
    """The pretrained weights are neither cached nor downloadable."""


def seeded_init(model, seed):
    """Re-draws every kernel from a numpy generator seeded by `seed` (He-normal scale), so
    `weights=None` gives the same network in every process. Keras applications initialise
    everything else to constants."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        name = v.path if hasattr(v, "path") else v.name
        if "kernel" not in name.split("/")[-1]:
            continue
        shape = tuple(v.shape)
        if "depthwise" in name.split("/")[-1]:
            fan_in = int(np.prod(shape[:2]))
        else:
            fan_in = int(np.prod(shape[:-1]))
        v.assign(rng.standard_normal(shape).astype(np.float32) * np.sqrt(2.0 / fan_in))
