"""Optional parts (setup.cfg extras): a command that needs one that is missing stops with one
line naming `pip install 'hse_tf[EXTRA]'`, before it writes anything."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _without(tmp_path, modules, args):
    """Runs `python -m ARGS` with `modules` made unimportable (None in sys.modules, which
    importlib.util.find_spec reports as missing)."""
    hide = tmp_path / "hide"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules))
    env = {**os.environ, "PYTHONPATH": f"{hide}{os.pathsep}{ROOT}"}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("extra,modules,args", [
    ("profile", ["tensorboard_plugin_profile"],
     ["hse_tf.train", "--dataset=demo", "--run_dir={tmp}/run", "--profile_steps=2,3"]),
    ("viz", ["sklearn"], ["hse_tf.viz", "--checkpoint", "{tmp}/run"]),
    ("caption", ["pycocoevalcap"],
     ["hse_tf.caption", "eval", "--captioner", "{tmp}/cap", "--features", "{tmp}/f.hdf5"]),
])
def test_a_missing_extra_is_named_in_one_line(tmp_path, extra, modules, args):
    out = _without(tmp_path, modules, [a.format(tmp=tmp_path) for a in args])
    assert out.returncode == 2, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and f"pip install 'hse_tf[{extra}]'" in lines[-1]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "cap").exists()
