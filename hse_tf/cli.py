"""How every `python -m hse_tf.*` command starts and fails.

- TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices, absl pre-init lines) is hidden,
  unless TF_CPP_MIN_LOG_LEVEL is set by the user.
- Bad input or a bad command line ends with ONE line on stderr, `error: ...` (naming the file,
  video and field where the error knows them), and exit code 2. `--debug` anywhere on the command
  line (or HSE_TF_DEBUG=1) shows the traceback instead.
- Anything else is a bug: it keeps its traceback and exits 1.

One command-line framework, absl, for every command: commands with flat flags define absl
flags; commands with subcommands or positional arguments (index, features, app, viz, the serving
client) build their parser with `argument_parser`, absl's argparse integration. Every command
starts through absl.app.run, takes --flagfile, and ends its errors the same way:

    if __name__ == "__main__":
        cli.run_absl(main)                       # absl.flags commands
        cli.run_absl(main, parsed_by_main=True)  # main(argv) -> exit code, parsing with
                                                 # cli.parse(argument_parser(...), argv)

TensorFlow is imported (quietly) once the command line has parsed, so that a bad flag or --help
answers at once.
"""

import contextlib
import functools
import os
import sys

EXIT_USAGE = 2


def user_errors():
    """Exception types that mean bad input or usage, not a bug in hse_tf."""
    from absl import app, flags

    # DataError, IndexFileError, QueryError and json.JSONDecodeError are ValueErrors.
    kinds = [OSError, ValueError, app.UsageError, flags.Error]
    if "tensorflow" in sys.modules:
        import tensorflow as tf
        kinds += [tf.errors.InvalidArgumentError, tf.errors.NotFoundError]
    return tuple(kinds)


def message(error):
    """One line for a user error."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    else:  # tf.errors.OpError.message: the message without the op's stack
        text = getattr(error, "message", None) or str(error) or type(error).__name__
    text = " ".join(text.split())  # one line
    return f"error: {text}"


def _pop_debug(argv):
    argv = list(argv)
    debug = os.environ.get("HSE_TF_DEBUG", "") not in ("", "0")
    for flag in ("--debug", "--debug=true", "--debug=1"):
        while flag in argv:
            argv.remove(flag)
            debug = True
    return argv, debug


@contextlib.contextmanager
def _stderr_silenced():
    """Points file descriptor 2 at /dev/null (C++ logs written before absl's logging is set up
    ignore TF_CPP_MIN_LOG_LEVEL)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow():
    """Imports TensorFlow without its C++ start-up lines and with C++ logging at errors-off,
    unless the user set TF_CPP_MIN_LOG_LEVEL (then TensorFlow speaks as configured)."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _stderr_silenced():
        import tensorflow  # noqa: F401  (loads the C++ runtime while stderr is closed)
    import logging

    from absl import logging as absl_logging
    # absl warns once that Python logging runs before absl.app; the commands use absl.app.
    absl_logging._warn_preinit_stderr = False  # pylint: disable=protected-access
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    # TensorFlow's own Python modules log through absl too (e.g. the checkpoint saver's
    # "Sharding callback duration"): keep their warnings and errors, drop their info lines.
    absl_logging.get_absl_logger().addFilter(_QuietTensorFlowInfo())


class _QuietTensorFlowInfo:
    def filter(self, record):
        import logging
        return record.levelno > logging.INFO or f"{os.sep}tensorflow{os.sep}" not in (
            record.pathname or "")


def _fail(error, debug):
    if debug:
        import traceback
        traceback.print_exception(error)
    print(message(error), file=sys.stderr, flush=True)
    return EXIT_USAGE


def run(main, argv=None):
    """Runs a `main(argv) -> exit code` that parses its own command line (with `parse`, so
    that a bad command line or --help answers before TensorFlow loads) in this process, with
    the commands' one-line errors; returns the exit code (for tests and other Python callers:
    the commands themselves start with run_absl(main, parsed_by_main=True))."""
    argv, debug = _pop_debug(sys.argv[1:] if argv is None else argv)
    try:
        return main(argv) or 0
    except user_errors() as e:
        return _fail(e, debug)


def argument_parser(command, **kwargs):
    """The parser of a command with subcommands or positional arguments (absl.flags has
    neither): absl.flags.argparse_flags.ArgumentParser, with `parse` reading --flagfile as
    absl does, so flagfiles work as in the other commands. `command` is the module `python -m` runs;
    the usage line names the console script instead when the command was started as one."""
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    kwargs.setdefault("prog", script if script.startswith("hse-") else f"python -m {command}")
    return _parser_class()(**kwargs)


@functools.cache
def _parser_class():
    from absl.flags import argparse_flags

    class ArgumentParser(argparse_flags.ArgumentParser):
        """absl's argparse parser with the command's own flags only (its subcommands' too:
        argparse makes them of this class): the process-wide absl flags may hold another
        command's (--batch_size, ...) when commands run in one process. `parse` reads
        --flagfile."""

        def __init__(self, **kwargs):
            kwargs.setdefault("inherited_absl_flags", None)
            super().__init__(**kwargs)
    return ArgumentParser


def parse(parser, argv=None, known=False, load_tensorflow=True):
    """parser.parse_args(argv) (parse_known_args with `known`), then TensorFlow, quietly: a
    command line that is wrong, or --help, answers at once (TensorFlow takes seconds to load).
    Without `load_tensorflow` the command calls quiet_tensorflow() itself, after its other
    quick checks."""
    from absl import flags
    # --flagfile=FILE -> its lines, as absl reads them (a fresh FlagValues: no flag state)
    argv = flags.FlagValues().read_flags_from_files(
        list(sys.argv[1:] if argv is None else argv), force_gnu=True)
    parsed = parser.parse_known_args(argv) if known else parser.parse_args(argv)
    if load_tensorflow:
        quiet_tensorflow()
    return parsed


def run_absl(main, argv=None, parsed_by_main=False):
    """Every command's start: absl.app.run with one-line errors. Flag errors, a missing
    required flag and errors from `main` all end in one `error:` line and exit code 2.
    With `parsed_by_main`, `main(argv)` parses its own command line (argv without the program
    name) with `parse` and an `argument_parser`, and returns the exit code."""
    from absl import app, flags
    argv, debug = _pop_debug(sys.argv if argv is None else argv)

    def parse(args):
        if parsed_by_main:  # main parses (absl's argparse parser; `parse` reads flagfiles)
            flags.FLAGS.mark_as_parsed()
            return args[1:]
        try:
            rest = flags.FLAGS(args)
        except flags.Error as e:  # before TensorFlow loads: a bad flag answers at once
            sys.exit(_fail(e, debug))
        quiet_tensorflow()
        return rest

    def guarded(args):
        try:
            return main(args) or 0
        except user_errors() as e:
            sys.exit(_fail(e, debug))

    app.run(guarded, argv=argv, flags_parser=parse)


def configure_cpu_threads(mode="auto"):
    """Sets TensorFlow's intra-/inter-op thread pools on CPU-only machines (--cpu_threads of
    the trainer and the development server): 'auto' = max(1, cores // 4) threads per op and
    max(2, cores) ops at once, measured faster than TensorFlow's default on 2 cores for training
    (bench/train_throughput.py) and serving (bench/serving_latency.py).
    Returns (intra, inter), or None when left to TensorFlow (mode 'default', or a GPU is
    visible). Must run before TensorFlow executes its first op."""
    import logging

    import tensorflow as tf
    if mode == "default" or tf.config.list_physical_devices("GPU"):
        return None
    if mode == "auto":
        cores = os.cpu_count() or 1
        intra, inter = max(1, cores // 4), max(2, cores)
    else:
        try:
            intra, inter = (int(x) for x in mode.split(","))
        except ValueError:
            raise ValueError(f"--cpu_threads wants auto, default or INTRA,INTER; got {mode!r}")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow already started: keep its pools
        logging.getLogger(__name__).warning(
            "--cpu_threads: TensorFlow is already running; thread pools unchanged")
        return None
    return intra, inter


class MissingExtra(ValueError):
    """An optional part of hse_tf is not installed (a user error: one line, exit 2)."""


def require_extra(extra, *modules, what=None):
    """Stops with one line naming `pip install 'hse_tf[extra]'` unless every module is
    importable (checked without importing them)."""
    import importlib.util
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what or 'this command'} needs {', '.join(missing)}, an optional "
                           f"part of hse_tf: pip install 'hse_tf[{extra}]'")


def define_flags(config_cls, flag_values=None):
    """absl flags made from a typed config (a dataclass of hse_tf.data.options.option fields):
    one flag per field, named after it, with the field's default, help, choices and bounds."""
    import dataclasses

    from absl import flags
    kinds = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
             str: flags.DEFINE_string}
    extra = {} if flag_values is None else {"flag_values": flag_values}
    for f in dataclasses.fields(config_cls):
        meta = dict(f.metadata)
        choices = meta.get("choices")
        if choices is not None:
            choices = list(choices() if callable(choices) else choices)
            flags.DEFINE_enum(f.name, f.default, choices, meta["help"], **extra)
            continue
        bounds = {k: meta[k] for k in ("lower_bound", "upper_bound") if k in meta}
        kinds[f.type](f.name, f.default, meta["help"], **bounds, **extra)


def parse_int(text):
    """A decimal integer written plainly ('12', '-3'); ValueError for anything Python's int()
    would also take, such as '1_0', ' 7', '+5' or non-ASCII digits."""
    import re
    if not isinstance(text, str) or not re.fullmatch(r"-?[0-9]{1,18}", text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def positive_int(text):
    """argparse type: an integer >= 1 (argparse then names the flag in its one-line error)."""
    import argparse
    try:
        value = parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    import argparse
    import math
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def parse_clip_times(text, flag="--clip_times"):
    """'0:12.5,12.5:30' -> [[0.0, 12.5], [12.5, 30.0]] (seconds), with a one-line error naming
    the flag and the bad item."""
    import math
    out = []
    for item in (text or "").split(","):
        parts = item.strip().split(":")
        try:
            start, end = (float(x) for x in parts)
        except ValueError:
            raise ValueError(f"{flag}: {item.strip()!r} is not START:END in seconds "
                             f"(e.g. 0:12.5,12.5:30)") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise ValueError(f"{flag}: {item.strip()!r} needs 0 <= START <= END, finite")
        out.append([start, end])
    return out


def is_loopback(host):
    """Whether a bind address keeps a server on this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
