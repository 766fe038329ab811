"""Atomic writes: write beside the target, then rename over it (no half-written files); and
reading back the small JSON files written so."""

import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in the target's folder; on success renames it to `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a file as open() makes it
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yields a temporary folder beside `path`; on success it replaces `path` as a whole."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=parent)
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; a folder as mkdir makes it
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def current_umask():
    """The process's umask: from /proc (Linux; no change to it), else by setting and restoring
    it at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_dir(tmp, path):
    """Renames the finished folder `tmp` to `path`; an existing `path` is first moved aside
    (into a .old-* folder beside it, removed afterwards), so `path` is never half old, half new."""
    if os.path.exists(path):
        old = tempfile.mkdtemp(prefix=".old-" + os.path.basename(path) + "-",
                               dir=os.path.dirname(os.path.abspath(path)))
        os.replace(path, os.path.join(old, "x"))
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def read_json_object(path, what):
    """The JSON object in `path`, {} when the file does not exist; ValueError naming the file
    (and `what` it should hold) when it is not a readable JSON object."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read {what} ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {what} is not a JSON object")
    return value
