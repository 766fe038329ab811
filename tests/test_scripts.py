"""Console scripts (hse-train, hse-index, ...) run their command as `python -m` does."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(args):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.parametrize("script,module", [("hse-index", "hse_tf.index"),
                                           ("hse-train", "hse_tf.train")])
def test_a_script_is_its_module(script, module):
    from hse_tf.scripts import COMMANDS
    assert COMMANDS[script] == module
    call = (f"import sys; sys.argv = [{script!r}, '--help']; "
            f"from hse_tf import scripts; scripts.{script.replace('-', '_')}()")
    via_script, via_module = _run([sys.executable, "-c", call]), _run(
        [sys.executable, "-m", module, "--help"])
    assert via_script.returncode == via_module.returncode, via_script.stderr[-2000:]
    assert "--" in via_script.stdout  # its flags
    def same(text):  # the program's name as either spells it
        for name in (f"python -m {module}", script, module.rsplit(".", 1)[-1] + ".py",
                     "__main__.py"):
            text = text.replace(name, "PROG")
        return text
    assert same(via_script.stdout) == same(via_module.stdout)
    # a bad flag: the command's one-line error and exit code, as python -m gives
    bad = call.replace("'--help'", "'--no_such_flag=1'")
    a, b = _run([sys.executable, "-c", bad]), _run([sys.executable, "-m", module,
                                                    "--no_such_flag=1"])
    assert a.returncode == b.returncode != 0 and a.stderr.strip().splitlines()[-1].startswith(
        "error:") == b.stderr.strip().splitlines()[-1].startswith("error:")


def test_every_script_is_installed_where_the_package_is():
    """setup.cfg declares every command of hse_tf.scripts; a pip install puts them beside the
    interpreter (skipped when this checkout is run without installing it)."""
    import configparser

    from hse_tf.scripts import COMMANDS
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    declared = dict(line.split(" = ") for line in
                    cfg["options.entry_points"]["console_scripts"].strip().splitlines())
    assert declared == {k: f"hse_tf.scripts:{k.replace('-', '_')}" for k in COMMANDS}
    installed = os.path.join(os.path.dirname(sys.executable), "hse-index")
    if not os.path.exists(installed):
        pytest.skip("hse_tf is not pip-installed in this interpreter's environment")
    out = _run([installed, "--help"])
    assert out.returncode == 0 and "build" in out.stdout


def _exit_before_tensorflow(module, args):
    """Runs `python -m module args` in a fresh interpreter: (exit code and whether TensorFlow
    was imported, as 'exit CODE BOOL'; stderr)."""
    call = (f"import runpy, sys; sys.argv = [{module!r}, *{args!r}]\n"
            f"try:\n    runpy.run_module({module!r}, run_name='__main__')\n"
            f"except SystemExit as e:\n"
            f"    print('exit', e.code, 'tensorflow' in sys.modules, file=sys.__stdout__)")
    done = _run([sys.executable, "-c", call])
    return done.stdout.strip().splitlines()[-1], done.stderr


@pytest.mark.parametrize("module,args", [
    ("hse_tf.index", ["build", "--nlist", "x"]), ("hse_tf.app", ["--port", "1_0"]),
    ("hse_tf.features", ["--help"]), ("hse_tf.evaluate", ["--no_such_flag"]),
    ("hse_tf.export", ["--version=abc"]), ("hse_tf.train", ["--hidden=0"]),
    ("hse_tf.train", ["--encoder=lstm"])])
def test_a_bad_command_line_answers_before_tensorflow_loads(module, args):
    """A wrong flag or --help answers without importing TensorFlow (seconds to load)."""
    code = "0" if args == ["--help"] else "2"
    status, stderr = _exit_before_tensorflow(module, args)
    assert status == f"exit {code} False", stderr[-2000:]


@pytest.mark.parametrize("module,args,line", [
    ("hse_tf.index", ["build"], "--nlist=x"), ("hse_tf.features", ["extract"], "--fps=-1"),
    ("hse_tf.app", [], "--port=1_0"), ("hse_tf.viz", [], "--max_points=x"),
    ("hse_tf.evaluate", [], "--incomplete_max_k=x"), ("hse_tf.export", [], "--version=abc"),
    ("hse_tf.train", [], "--max_frames=0")])
def test_every_kind_of_command_reads_a_flagfile(tmp_path, module, args, line):
    """One command-line framework (absl; its argparse integration where a command has
    subcommands): --flagfile works everywhere, and a bad value in it is named."""
    flagfile = tmp_path / "bad.flags"
    flagfile.write_text(f"# a comment\n{line}\n")
    status, stderr = _exit_before_tensorflow(module, [*args, f"--flagfile={flagfile}"])
    assert status == "exit 2 False", stderr[-2000:]
    assert line.split("=")[0].lstrip("-") in stderr.strip().splitlines()[-1], stderr[-2000:]


def test_a_command_parses_in_a_process_that_holds_another_commands_flags(tmp_path):
    """The trainer's absl flags (--batch_size, ...) live process-wide once it is imported; the
    index command's own --batch_size still parses, from the command line and a flagfile."""
    from absl import flags

    from hse_tf import cli
    from hse_tf import train  # noqa: F401  (defines --batch_size among absl's flags)
    from hse_tf.index.__main__ import _parser
    flagfile = tmp_path / "build.flags"
    flagfile.write_text("--batch_size=5\n--out=o\n")
    base = ["build", "--model", "m", "--features", "f"]
    args = cli.parse(_parser(), [*base, "--out", "o", "--batch_size", "3"], load_tensorflow=False)
    assert (args.batch_size, args.out) == (3, "o")
    args = cli.parse(_parser(), [*base, f"--flagfile={flagfile}"], load_tensorflow=False)
    assert (args.batch_size, args.out) == (5, "o")
    assert not flags.FLAGS["batch_size"].present  # the trainer's flag untouched
