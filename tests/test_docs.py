"""Every command in the README and docs/ uses flags that exist; the README fits; the docs stand
alone (no reference to files outside the repository)."""

import functools
import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.flags")))


def commands(path):
    """The `python -m hse_tf...` and `python bench/...` commands of a markdown file's code
    (indented blocks and backticked spans), continuation lines joined, comments dropped."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"\\\n\s*", " ", text)
    spans = [" ".join(span.split())  # a span may wrap over lines
             for span in re.findall(r"`([^`]*python[^`]*)`", text.replace("``", ""))]
    blocks = [line for line in text.splitlines() if line.startswith("    ")]
    out = []
    for line in blocks + spans:
        for part in re.split(r"&&|;", line):
            part = part.split(" #")[0].strip()
            if re.match(r"(python3? )(-m hse_tf|bench/)", part):
                out.append(part)
    return out


def _run(args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=300)
    return out.stdout + out.stderr


@functools.lru_cache(maxsize=None)
def help_text(program, sub=None):
    """Everything a command or subcommand's help says, in one start: absl stops at
    `--helpfull` (every flag), argparse at `--help` (after noting the flag it does not know)."""
    base = ["-m", program] if not program.endswith(".py") else [program]
    return _run(base + ([sub] if sub else []) + ["--helpfull", "--help"])


def subcommands(program):
    """argparse subcommands, from the `{a,b,c}` of the usage line."""
    found = re.search(r"\{([a-z0-9_,-]+)\}", help_text(program))
    return set(found.group(1).split(",")) if found else set()


def flags_of(tokens):
    """'--name' of every flag token ('--name=value', '--noname' included as written)."""
    return [t.split("=")[0] for t in tokens if t.startswith("--") and len(t) > 2]


def known(flag, text):
    if re.search(r"--(\[no\])?" + re.escape(flag[2:]) + r"\b", text):  # absl: --[no]name
        return True
    # absl booleans: --noX is the negation of --X
    return flag.startswith("--no") and re.search(r"--(\[no\])?" + re.escape(flag[4:]) + r"\b",
                                                  text) is not None


def check(command):
    tokens = shlex.split(command)[1:]
    if tokens[0] == "-m":
        program, rest = tokens[1], tokens[2:]
    else:
        program, rest = tokens[0], tokens[1:]
    text = help_text(program)
    subs = [t for t in rest if t in subcommands(program)]
    if subs:
        text += help_text(program, subs[0])
    unknown = [f for f in flags_of(rest) if not known(f, text)]
    if unknown and "--runner" in flags_of(rest):  # `index build` hands the rest to Beam
        from apache_beam.options.pipeline_options import PipelineOptions
        beam = PipelineOptions([]).get_all_options()
        unknown = [f for f in unknown if f[2:] not in beam]
    return unknown


ALL = sorted({(os.path.relpath(p, ROOT), c) for p in DOCS for c in commands(p)})


def test_the_docs_hold_commands():
    assert len(ALL) > 40 and {p for p, _ in ALL} >= {"README.md", "docs/training.md"}


@pytest.mark.parametrize("doc,command", ALL)
def test_every_documented_command_uses_existing_flags(doc, command):
    assert check(command) == [], f"{doc}: {command}"


@pytest.mark.parametrize("config", [os.path.relpath(c, ROOT) for c in CONFIGS])
def test_every_config_uses_existing_train_flags(config):
    lines = [line.strip() for line in open(os.path.join(ROOT, config), encoding="utf-8")]
    flags = flags_of([line for line in lines if line and not line.startswith("#")])
    text = help_text("hse_tf.train")
    assert [f for f in flags if not known(f, text)] == []
    header = [line for line in lines if line.startswith("#")]
    assert any("python -m hse_tf.train --flagfile=" + config in line for line in header[:3])


def test_the_readme_fits_and_the_docs_stand_alone():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert len(readme.splitlines()) < 400
    for path in DOCS:
        text = open(path, encoding="utf-8").read()
        assert "../shared" not in text and "HSE_SPEC" not in text, path
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):  # relative links
            assert os.path.exists(os.path.join(os.path.dirname(path), target)), (path, target)


def test_the_checker_catches_a_wrong_flag():
    assert check("python -m hse_tf.train --flagfile=configs/demo.flags --no_such_flag=1") == [
        "--no_such_flag"]
    assert check("python -m hse_tf.index search runs/x 'q' --kk 5") == ["--kk"]
    assert check("python -m hse_tf.train --noflat_context --weak_low --hidden=8") == []
    assert check("python -m hse_tf.index build --runner DirectRunner --project P --projekt Q") == [
        "--projekt"]
