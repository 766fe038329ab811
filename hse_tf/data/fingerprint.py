"""Checksums of written files and fingerprints of inputs, for resumes and reuse that must match
what they were made from (compared by content, never by name)."""

import hashlib
import json
import os

CHUNK = 1 << 20


def sha256_file(path):
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


def input_fingerprint(path):
    """A fingerprint of an input file or folder that changes when its content does: the sha256
    of every byte (a feature file rewritten in the middle must not pass for the one a resumed
    build started from; hashing reads it once, at disk speed). A folder: the same for each file
    in it (by relative name), recursively.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        h = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                h.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape"))
                h.update(input_fingerprint(full).encode())
        return "dir:" + h.hexdigest()
    return "sha256:" + sha256_file(path)


def value_fingerprint(value):
    """sha256 of a JSON-able value (settings, lists of ids)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
