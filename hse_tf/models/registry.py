"""Models by name (big_vision style): a config names its model instead of an if/else chain."""

from hse_tf.models.hse_model import HSEModel

MODELS = {
    # The paper's model; reconstruction on unless both taus are 0 (HSE[tau=0]).
    "hse": lambda **kw: HSEModel(hierarchical=True, **kw),
    # Flat baseline: one GRU over all frames / all words; only the high-level losses apply.
    "fse": lambda **kw: HSEModel(hierarchical=False, **kw),
}


def build_model(name, **kwargs):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](**kwargs)
