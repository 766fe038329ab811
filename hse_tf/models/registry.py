"""Models by name (big_vision style): a config names its model instead of an if/else chain.
(The model's module loads when one is built: the names import no TensorFlow.)"""


def _hse_model(hierarchical):
    def build(**kw):
        from hse_tf.models.hse_model import HSEModel
        return HSEModel(hierarchical=hierarchical, **kw)
    return build


MODELS = {
    # The paper's model; reconstruction on unless both taus are 0 (HSE[tau=0]).
    "hse": _hse_model(hierarchical=True),
    # Flat baseline: one GRU over all frames / all words; only the high-level losses apply.
    "fse": _hse_model(hierarchical=False),
}


def build_model(name, **kwargs):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](**kwargs)
