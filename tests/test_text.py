import re
import string

import numpy as np
import pytest
import tensorflow as tf

from hse_tf.data import annotations as A
from hse_tf.data.errors import DataError
from hse_tf.data.vocabulary import (UNK_ID, Vocabulary, embedding_matrix, tf_token_ids,
                                    tokenize, tokenize_all)
from hse_tf.data.word_vectors import load_glove_txt, load_word_vectors, save_npz
from tests.conftest import shared_path

TRICKY = ["A man's T-shirt, then... 3 DOGS!", "  The coach helps the guy in red.",
          "Café crème – naïve ÉCOLE", "tabs\tand\nnewlines", "İstanbul K", "x"]


def test_tokenize_rules():
    assert tokenize("A man's T-shirt, 3 DOGS!") == ["a", "man", "s", "t", "shirt", "3", "dogs"]
    assert tokenize("Café") == ["caf"]  # non-ASCII letters separate tokens
    # By hand, one call for many texts (as training tokenises a split):
    assert tokenize_all(TRICKY) == [
        ["a", "man", "s", "t", "shirt", "then", "3", "dogs"],
        ["the", "coach", "helps", "the", "guy", "in", "red"],
        ["caf", "cr", "me", "na", "ve", "cole"], ["tabs", "and", "newlines"],
        ["stanbul", "k"], ["x"]]
    assert tokenize_all([]) == [] and tokenize("...") == []


def test_python_and_graph_ids_identical_on_real_sentences():
    anns = A.read_activitynet_captions(shared_path("activitynet_captions", "val_1.json"))
    sentences = [s for a in anns for s in a.sentences][:3000] + TRICKY
    # The rule, restated independently: ASCII-lower, then runs of [a-z0-9].
    lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    assert tokenize_all(sentences) == [re.findall("[a-z0-9]+", s.translate(lower))
                                       for s in sentences]
    vocab = Vocabulary.build(sentences[:2000])
    table = vocab.tf_table()
    graph = tf_token_ids(table, tf.constant(sentences)).to_list()
    assert graph == [vocab.ids(s) for s in sentences]


def test_python_and_graph_ids_identical_offline():
    vocab = Vocabulary.build(TRICKY[:3])
    graph = tf_token_ids(vocab.tf_table(), tf.constant(TRICKY)).to_list()
    assert graph == [vocab.ids(s) for s in TRICKY]
    assert vocab.ids("zebra crossing") == [UNK_ID, UNK_ID]


def test_vocabulary_order_min_count_and_roundtrip(tmp_path):
    vocab = Vocabulary.build(["b a a", "c a b"], min_count=2)
    # counts: a=3, b=2, c=1 (< 2, dropped) -> [<pad>, <unk>, a, b]
    assert vocab.words == ["<pad>", "<unk>", "a", "b"]
    vocab.save(tmp_path / "vocab.txt")
    assert Vocabulary.load(tmp_path / "vocab.txt").words == vocab.words


def test_glove_txt_with_spaces_in_token_and_any_dimension(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\n. . . 1 2 3\nat name@domain.com 4 5 6\nthe 9 9 9\n",
                    encoding="utf-8")
    words, vectors = load_glove_txt(str(path))
    assert words == ["the", ". . .", "at name@domain.com"]  # later duplicate 'the' ignored
    np.testing.assert_allclose(vectors[1], [1, 2, 3])
    assert vectors.shape == (3, 3)


def test_glove_txt_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"the 0.1 0.2\nman 0.3\n")
    with pytest.raises(DataError, match="bad.txt.*line 2"):
        load_glove_txt(str(path))
    path.write_bytes(b"the 0.1 0.2\n\xff\xfe 0.3 0.4\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_glove_txt(str(path))


def test_npz_roundtrip_and_embedding_matrix(tmp_path):
    save_npz(tmp_path / "wv.npz", ["a", "b"], np.array([[1, 2], [3, 4]], np.float32))
    words, vectors = load_word_vectors(str(tmp_path / "wv.npz"))
    assert words == ["a", "b"]
    vocab = Vocabulary.build(["a c"])  # words: a, c
    matrix, coverage = embedding_matrix(vocab, (words, vectors))
    np.testing.assert_allclose(matrix[vocab.index["a"]], [1, 2])
    np.testing.assert_allclose(matrix[0], [0, 0])  # padding row
    assert coverage == 0.5  # 'a' found, 'c' not


def test_real_glove_subset_covers_corpus():
    words, vectors = load_word_vectors(
        shared_path("word_vectors", "glove6B50d_anet_didemo_subset.npz"))
    assert vectors.shape == (14169, 50)
    anns = A.read_activitynet_captions(shared_path("activitynet_captions", "val_1.json"))
    vocab = Vocabulary.build([s for a in anns for s in a.sentences])
    _, coverage = embedding_matrix(vocab, (words, vectors))
    assert coverage > 0.9
