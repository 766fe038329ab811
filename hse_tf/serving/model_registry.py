"""Loads exported SavedModels the way TF Serving does: names, versions, signatures.

Sources: a TF Serving `models.config` (model_config_list text proto, with its version policies)
or a folder holding `<name>/<version>/saved_model.pb`. This is for the development stand-in
server (hse_tf.serving.server); production uses TF Serving itself with the same files.
"""

import os

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from hse_tf.export import layout


class NotFound(Exception):
    """Unknown model, version or signature (gRPC NOT_FOUND)."""


class Servable:
    """One loaded version: its tf.function signatures and their SignatureDefs."""

    def __init__(self, name, version, path):
        self.name, self.version, self.path = name, version, path
        self.module = layout.load_saved_model(path)
        self.signatures = dict(self.module.signatures)
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        meta = next(m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags)
        self.signature_defs = {k: v for k, v in meta.signature_def.items()
                               if not k.startswith("__")}


def read_models_config(path, models_dir=None):
    """[(name, base_path, policy)] from a models.config; policy is ('latest', n), ('all',) or
    ('specific', [versions]). With `models_dir`, a base_path that does not exist here (e.g. the
    Docker image's /models/<name>) is looked up as models_dir/<name>."""
    config = model_server_config_pb2.ModelServerConfig()
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a TF Serving model config (not UTF-8 text: byte "
                         f"{e.start})") from None
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a TF Serving model config ({e})") from None
    if not config.model_config_list.config:
        raise ValueError(f"{path}: lists no models (model_config_list {{ config {{ name: ... "
                         f"base_path: ... }} }})")
    out = []
    for m in config.model_config_list.config:
        base = m.base_path
        if models_dir and not os.path.isdir(base):
            base = os.path.join(models_dir, m.name)
        which = m.model_version_policy.WhichOneof("policy_choice")
        if which == "all":
            policy = ("all",)
        elif which == "specific":
            policy = ("specific", list(m.model_version_policy.specific.versions))
        else:
            n = m.model_version_policy.latest.num_versions if which == "latest" else 0
            policy = ("latest", n or 1)
        out.append((m.name, base, policy))
    return out


class ModelRegistry:
    """name -> {version: Servable}; resolves a request's model spec like TF Serving."""

    def __init__(self, models):
        """`models`: [(name, base_path, policy)] (see read_models_config)."""
        self.models = {}
        for name, base, policy in models:
            versions = layout.complete_versions(base)  # never half of an unfinished export
            if policy[0] == "latest":
                versions = versions[-policy[1]:]
            elif policy[0] == "specific":
                missing = sorted(set(policy[1]) - set(versions))
                if missing:
                    raise FileNotFoundError(f"model {name}: versions {missing} not under {base}")
                versions = sorted(policy[1])
            if not versions:
                raise FileNotFoundError(f"model {name}: no <version>/saved_model.pb under {base}")
            self.models[name] = {v: Servable(name, v, os.path.join(base, str(v)))
                                 for v in versions}

    @classmethod
    def from_dir(cls, models_dir):
        if not os.path.isdir(models_dir):
            raise FileNotFoundError(f"{models_dir}: no such folder")
        names = sorted(n for n in os.listdir(models_dir)
                       if layout.complete_versions(os.path.join(models_dir, n)))
        if not names:
            raise FileNotFoundError(f"no <name>/<version>/saved_model.pb under {models_dir}")
        return cls([(n, os.path.join(models_dir, n), ("latest", 1)) for n in names])

    @classmethod
    def from_config(cls, path, models_dir=None):
        return cls(read_models_config(path, models_dir))

    def get(self, name, version=None, label=None):
        if name not in self.models:
            raise NotFound(f"Servable not found for request: Latest({name})")
        versions = self.models[name]
        if label:
            raise NotFound(f"Unrecognized servable version label: {label}")
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise NotFound(f"Servable not found for request: Specific({name}, {version})")
        return versions[version]
