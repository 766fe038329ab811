"""hse_tf: hierarchical cross-modal video-text embeddings (HSE) in TensorFlow / Keras 3."""

__version__ = "0.1.0"


def lazy_exports(package, exports):
    """A package's `__getattr__` and `__dir__` (PEP 562) for `exports`, {name: module}: the
    module loads when the name is first used, so that importing the package (or one of its
    TensorFlow-free config modules) does not load TensorFlow."""
    import importlib

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(exports))
    return __getattr__, __dir__
