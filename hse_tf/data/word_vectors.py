"""Word-vector readers: GloVe .txt (any dimension, odd 840B lines) and `{words, vectors}` .npz."""

import os

import numpy as np

from hse_tf.data.atomic import atomic_path
from hse_tf.data.errors import DataError


def _is_float(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def load_glove_txt(path, keep=None):
    """GloVe text: 'token v1 ... vD' per line. Returns (words list, float32 [N, D]).

    The dimension is read off the first line; a line with more fields than D+1 has spaces in its
    token (the 840B file has such lines), so the last D fields are the vector and the rest, joined
    by spaces, the token. A word2vec header line 'N D' is skipped. `keep` (a set) filters tokens,
    which keeps memory low on the 5.6 GB 840B file. Later duplicates of a token are ignored.
    """
    if not os.path.exists(path):
        raise DataError("word-vector file does not exist", file=path)
    words, rows, seen = [], [], set()
    dim = None
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
            except UnicodeDecodeError:
                raise DataError(f"line {lineno} is not valid UTF-8", file=path) from None
            if not line.strip():
                continue
            parts = line.rstrip(" ").split(" ")
            if dim is None:
                if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    continue  # word2vec-style header
                dim = len(parts) - 1
                if dim < 1:
                    raise DataError(f"line {lineno} has no vector", file=path)
            if len(parts) < dim + 1:
                raise DataError(f"line {lineno} has {len(parts) - 1} values, expected {dim}",
                                file=path)
            token = " ".join(parts[:len(parts) - dim])
            if token in seen or (keep is not None and token not in keep):
                continue
            values = parts[len(parts) - dim:]
            try:
                vec = np.asarray(values, dtype=np.float32)
            except ValueError:
                raise DataError(f"line {lineno} has a non-numeric value", file=path) from None
            seen.add(token)
            words.append(token)
            rows.append(vec)
    if dim is None:
        raise DataError("file holds no vectors", file=path)
    return words, np.stack(rows) if rows else np.zeros((0, dim), np.float32)


def load_npz(path):
    if not os.path.exists(path):
        raise DataError("word-vector file does not exist", file=path)
    try:
        with np.load(path, allow_pickle=False) as z:
            words, vectors = z["words"], z["vectors"]
    except KeyError as e:
        raise DataError(f"npz needs arrays 'words' and 'vectors' ({e})", file=path) from None
    except Exception as e:
        raise DataError(f"cannot read npz: {e}", file=path) from None
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or len(words) != len(vectors):
        raise DataError(f"'words' ({len(words)}) and 'vectors' {vectors.shape} do not match",
                        file=path, field="vectors")
    return [str(w) for w in words], vectors


def load_word_vectors(path, keep=None):
    """Dispatch on the extension: .npz or GloVe text."""
    if str(path).endswith(".npz"):
        words, vectors = load_npz(path)
        if keep is not None:
            idx = [i for i, w in enumerate(words) if w in keep]
            words, vectors = [words[i] for i in idx], vectors[idx]
        return words, vectors
    return load_glove_txt(path, keep)


def save_glove_txt(path, words, vectors):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for w, v in zip(words, vectors):
                f.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")


def save_npz(path, words, vectors):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, words=np.asarray(words), vectors=np.asarray(vectors, np.float32))
