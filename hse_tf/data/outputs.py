"""What a command may replace: an output folder is replaced only when it is empty, or when it is
an output of the same kind holding nothing but what that kind writes, and `--overwrite` says so.

Every command that writes a folder (`index build`, `index build-text`, `classify train`,
`caption train`, `train --run_dir`, `export`) claims it here first, so that `--out .` or a
typo never deletes a user's files. The table of what each command does with an existing output
is in docs/outputs.md.
"""

import contextlib
import dataclasses
import os

from hse_tf.data.atomic import atomic_dir


class OutputError(ValueError):
    """An output path that the command must not write (names the path and what to do)."""


@dataclasses.dataclass(frozen=True)
class OutputKind:
    what: str                 # "index", "classifier", ...
    marker: str               # the file that says a folder is this kind of output
    members: frozenset        # every name such a folder may hold (what the command writes)
    # Checks a folder holding the marker in depth (the marker's content, sub-folders): returns
    # why it is not this kind of output, or None. Without it, the marker's name is enough.
    check: object = None


# Index folders are kinds of their own, one per content (hse_tf.index.ownership): a text index
# never replaces a video or clip index, and files inside clips/ and thumbnails/ are checked too.
CLASSIFIER = OutputKind("classifier", "classifier.json",
                        frozenset({"classifier.json", "classifier.keras"}))
CAPTIONER = OutputKind("captioner", "captioner.json",
                       frozenset({"captioner.json", "captioner.keras"}))


def claim(path, kind, overwrite=False):
    """Raises OutputError unless `path` may be written as a `kind` output: it does not exist,
    is an empty folder, or (with `overwrite`) is a `kind` folder holding only `kind.members`."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        raise OutputError(f"{path}: exists and is not a folder; refusing to replace it "
                          f"(choose another output path)")
    entries = set(os.listdir(path))
    if not entries:
        return
    if kind.marker not in entries:
        raise OutputError(f"{path}: exists and is not {_a(kind.what)} folder (no {kind.marker});"
                          f" refusing to replace it (choose another output path)")
    foreign = sorted(entries - kind.members)
    if foreign:
        raise OutputError(f"{path}: holds {foreign[0]!r}, which no {kind.what} writes; "
                          f"refusing to replace it (move it away, or choose another output "
                          f"path)")
    problem = kind.check(path) if kind.check else None
    if problem:
        raise OutputError(f"{problem}; refusing to replace {path} (move it away, or choose "
                          f"another output path)")
    if not overwrite:
        raise OutputError(f"{path}: already holds {_a(kind.what)}; pass --overwrite to replace "
                          f"it")


@contextlib.contextmanager
def owned_dir(path, kind, overwrite=False):
    """atomic_dir after `claim`: yields a temporary folder that replaces `path` on success."""
    claim(path, kind, overwrite)
    with atomic_dir(path) as tmp:
        yield tmp


@dataclasses.dataclass(frozen=True)
class JsonOutput:
    """A JSON results file a command writes (evaluate --out, zeroshot --out, caption eval
    --out_json). It carries {"output": name}; an existing file is replaced only when it is one
    of these (or, written before the marker, holds all of `legacy_keys`), never a user's file
    or another output (a run's run_config.json, say)."""
    name: str
    legacy_keys: frozenset = frozenset()


EVALUATION = JsonOutput("evaluation", frozenset({"checkpoint", "videos", "retrieval"}))
ZERO_SHOT = JsonOutput("zero-shot results", frozenset({"top1", "top5", "chance_top1"}))
CAPTION_SCORES = JsonOutput("caption scores", frozenset({"scores", "captions"}))
MARKER_KEY = "output"


def claim_file(path, kind):
    """Raises OutputError unless `path` does not exist or is a `kind` results file."""
    import json
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    refuse = OutputError(f"{path}: exists and is not {_a(kind.name)} file written by hse_tf; "
                         f"refusing to replace it (choose another output path)")
    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 256 << 20:
        raise refuse
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        raise refuse from None
    if not isinstance(value, dict):
        raise refuse
    if value.get(MARKER_KEY) != kind.name and not (
            MARKER_KEY not in value and kind.legacy_keys and kind.legacy_keys <= set(value)):
        raise refuse


def write_json(path, kind, value):
    """Writes the JSON object `value` (marked as `kind`) to `path`, atomically, after
    `claim_file`."""
    import json

    from hse_tf.data.atomic import atomic_path
    claim_file(path, kind)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump({MARKER_KEY: kind.name, **value}, f, indent=1)


def _a(word):
    return ("an " if word[0] in "aeiou" else "a ") + word
