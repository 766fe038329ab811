"""Console scripts: `hse-train ...` is `python -m hse_tf.train ...`, and so on for every
command (setup.cfg's [options.entry_points] names them). Each runs its module as `python -m`
does, so start-up, flags, errors and exit codes are the same either way."""

import runpy
import sys

# script name -> the module `python -m` runs
COMMANDS = {
    "hse-train": "hse_tf.train",
    "hse-evaluate": "hse_tf.evaluate",
    "hse-zeroshot": "hse_tf.zeroshot",
    "hse-classify": "hse_tf.classify",
    "hse-export": "hse_tf.export",
    "hse-index": "hse_tf.index",
    "hse-app": "hse_tf.app",
    "hse-caption": "hse_tf.caption",
    "hse-features": "hse_tf.features",
    "hse-viz": "hse_tf.viz",
    "hse-serve": "hse_tf.serving.server",
    "hse-client": "hse_tf.serving.client",
}


def _command(script):
    def run():
        sys.argv[0] = script
        runpy.run_module(COMMANDS[script], run_name="__main__", alter_sys=True)
    run.__name__ = run.__qualname__ = script.replace("-", "_")
    run.__doc__ = f"`{script}`: python -m {COMMANDS[script]}"
    return run


for _script in COMMANDS:
    globals()[_script.replace("-", "_")] = _command(_script)
