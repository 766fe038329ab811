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
    assert root == COMMANDS | {"cli", "__init__"}
    for name in COMMANDS:
        text = open(os.path.join(PKG, name + ".py"), encoding="utf-8").read()
        assert 'if __name__ == "__main__":' in text and len(text.splitlines()) < 200, name
    for base, dirs, files in os.walk(PKG):
        if "__init__.py" in files:
            tree = ast.parse(open(os.path.join(base, "__init__.py"), encoding="utf-8").read())
            assert ast.get_docstring(tree), base
