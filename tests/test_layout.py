"""The package's shape: commands only at the root, a docstring on every package, and no module
that imports the module importing it (at any depth of the file: lazy imports count)."""

import ast
import os

from tests.conftest import ROOT

PKG = os.path.join(ROOT, "hse_tf")
COMMANDS = {"train", "evaluate", "zeroshot", "classify"}


def _modules():
    mods = {}
    for base, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(base, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(path, mods):
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module in mods:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names
                       if f"{node.module}.{a.name}" in mods)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in mods)
    return out


def test_no_module_imports_the_module_that_imports_it():
    mods = _modules()
    graph = {name: _imports(path, mods) - {name} for name, path in mods.items()}
    cycles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a]
                     if a in graph[b] and not (a.startswith(b + ".") or b.startswith(a + "."))})
    assert cycles == []


def test_the_root_holds_only_commands_and_every_package_says_what_it_is_for():
    root = {f[:-3] for f in os.listdir(PKG) if f.endswith(".py")}
    assert root == COMMANDS | {"cli", "scripts", "__init__"}  # scripts: the console scripts
    for name in COMMANDS:
        text = open(os.path.join(PKG, name + ".py"), encoding="utf-8").read()
        assert 'if __name__ == "__main__":' in text and len(text.splitlines()) < 200, name
    for base, dirs, files in os.walk(PKG):
        if "__init__.py" in files:
            tree = ast.parse(open(os.path.join(base, "__init__.py"), encoding="utf-8").read())
            assert ast.get_docstring(tree), base


# Settings with one home each: a function may take them as parameters, but its default must name
# the owner's constant (a literal here would be a second copy that can drift, as export's
# max_frames once did).
ONE_HOME = {"max_frames", "max_clips", "max_sentences", "eval_batch_size", "projector_max",
            "incomplete_max_k", "margin", "margin_high", "margin_low", "gamma", "hardest_negative",
            "w_match_high", "w_match_low", "w_cluster_high", "w_cluster_low", "w_match_flat",
            "tau_high", "tau_low", "weak_low", "w_cycle", "layers", "heads", "ff_dim", "ff_ratio",
            "dropout", "positions", "pooling", "contextual", "context_layers", "sort_by_time"}


OTHER_SETTING = {"hse_tf.heads.mlp_classifier.__init__(dropout=0.5)"}  # the classifier head's


def test_settings_are_defined_once():
    """No function of the package spells a shared setting's default as a literal, and the
    trainer's flags are the typed configs' fields with their defaults."""
    copies = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            pairs = list(zip(args.args[len(args.args) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d]
            copies += [f"{name}.{node.name}({a.arg}={ast.unparse(d)})" for a, d in pairs
                       if a.arg in ONE_HOME and isinstance(d, ast.Constant)
                       and d.value is not None]
    assert sorted(set(copies) - OTHER_SETTING) == []

    from absl import flags

    from hse_tf import train as command
    from hse_tf.training.run_config import RUN_CONFIGS, run_defaults
    assert command.CONFIG_FLAGS == list(run_defaults())
    for config in RUN_CONFIGS:
        for field in config.__dataclass_fields__.values():
            assert flags.FLAGS[field.name].default == field.default, field.name
