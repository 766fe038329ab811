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


INDEX = OutputKind("index", "index.json", frozenset(
    {"index.json", "ids.json", "embeddings.npy", "faiss.index", "clips", "thumbnails",
     "media.json"}))
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
    if not overwrite:
        raise OutputError(f"{path}: already holds {_a(kind.what)}; pass --overwrite to replace "
                          f"it")


@contextlib.contextmanager
def owned_dir(path, kind, overwrite=False):
    """atomic_dir after `claim`: yields a temporary folder that replaces `path` on success."""
    claim(path, kind, overwrite)
    with atomic_dir(path) as tmp:
        yield tmp


def _a(word):
    return ("an " if word[0] in "aeiou" else "a ") + word
