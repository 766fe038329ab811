"""Tokenisation and the vocabulary.

Rule: lower-case ASCII letters, then every maximal run of [a-z0-9] is a token; everything else
(punctuation, whitespace, non-ASCII characters) separates tokens. It is written once, as
TensorFlow string ops (`tf_tokenize`): the exported text model runs them in its graph, and
training, vocabulary building, indexing and search run the same ops eagerly over a whole list of
texts (`tokenize_all`), so ids computed while training equal the ids the export computes.
"""

import collections
import os

import numpy as np
import tensorflow as tf

from hse_tf.data.atomic import atomic_path
from hse_tf.data.errors import DataError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def tf_tokenize(strings):
    """THE tokeniser: string tensor [N] -> RaggedTensor [N, None] of tokens."""
    lowered = tf.strings.lower(strings)  # ASCII letters only (no encoding argument)
    spaced = tf.strings.regex_replace(lowered, "[^a-z0-9]+", " ")
    return tf.strings.split(tf.strings.strip(spaced))


def tokenize_all(texts):
    """Python strings -> their token lists, by tf_tokenize over all of them at once."""
    texts = list(texts)
    if not texts:
        return []
    rows = tf_tokenize(tf.constant(texts, tf.string)).to_list()
    return [[t.decode("ascii") for t in row] for row in rows]


def tokenize(text):
    """One string -> its tokens (tokenize_all of one; use tokenize_all for many)."""
    return tokenize_all([text])[0]


class Vocabulary:
    """Word <-> id. Id 0 is padding, id 1 is UNK, then words by descending count, then A-Z."""

    def __init__(self, words):
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {words[:2]}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary has duplicate words")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    @classmethod
    def build(cls, sentences, min_count=1):
        counts = collections.Counter(t for row in tokenize_all(sentences) for t in row)
        kept = sorted((w for w, c in counts.items() if c >= min_count),
                      key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + kept)

    def __len__(self):
        return len(self.words)

    def ids(self, text):
        return self.ids_all([text])[0]

    def ids_all(self, texts):
        """Word ids of each text (unknown words: UNK_ID)."""
        return [[self.index.get(t, UNK_ID) for t in row] for row in tokenize_all(texts)]

    def unknown(self, text):
        return [t for t in tokenize(text) if t not in self.index]

    def save(self, path):
        with atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(self.words) + "\n")

    @classmethod
    def load(cls, path):
        if not os.path.exists(path):
            raise DataError("vocabulary file does not exist", file=path)
        with open(path, encoding="utf-8") as f:
            words = f.read().split("\n")
        if words and words[-1] == "":
            words.pop()
        try:
            return cls(words)
        except ValueError as e:
            raise DataError(str(e), file=path) from None

    def tf_table(self):
        """StaticHashTable word -> id (UNK for unknown words), for in-graph lookup."""
        keys = tf.constant(self.words[2:], tf.string)
        values = tf.range(2, len(self.words), dtype=tf.int64)
        init = tf.lookup.KeyValueTensorInitializer(keys, values)
        return tf.lookup.StaticHashTable(init, default_value=UNK_ID)


def tf_token_ids(table, strings):
    """Raw strings [N] -> RaggedTensor [N, None] int64 ids, in-graph."""
    tokens = tf_tokenize(strings)
    return tf.ragged.map_flat_values(table.lookup, tokens)


def embedding_matrix(vocab, word_vectors, seed=0, scale=0.1):
    """[len(vocab), dim] float32: GloVe rows where known, N(0, scale) otherwise, zeros for padding.

    Returns (matrix, coverage) with coverage = share of vocabulary words found in the vectors.
    """
    words, vectors = word_vectors
    lookup = {w: i for i, w in enumerate(words)}
    dim = vectors.shape[1]
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, scale, size=(len(vocab), dim)).astype(np.float32)
    matrix[PAD_ID] = 0.0
    found = 0
    for i, w in enumerate(vocab.words[2:], start=2):
        j = lookup.get(w)
        if j is not None:
            matrix[i] = vectors[j]
            found += 1
    coverage = found / max(1, len(vocab) - 2)
    return matrix, coverage


def token_coverage(vocab, word_vectors_words, sentences):
    """Share of tokens (with repetition) in `sentences` that have a word vector."""
    known = set(word_vectors_words)
    total = hit = 0
    for row in tokenize_all(sentences):
        for t in row:
            total += 1
            hit += t in known
    return hit / max(1, total)
