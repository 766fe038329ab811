"""Serving signatures of the text tower: raw sentence strings -> embeddings (in-graph tokens)."""

import tensorflow as tf

from hse_tf.export import preprocess as P
from hse_tf.losses.ranking import l2_normalize
from hse_tf.export.layout import MAX_PARAGRAPH


def text_endpoints(tower, table, max_sentences=MAX_PARAGRAPH, max_words=P.MAX_WORDS):
    """{signature name: (function, input_signature)} for the exported text model.

    serving_default  padded, batchable by TF Serving:
        sentences [B, S] string, sentence_counts [B] int64
        -> paragraph [B, H], sentences [B, S, H], token_counts [B, S], unknown_counts [B, S]
    ragged           sentences [N] string, paragraph_row_splits [B+1] int64
        -> paragraph [B, H], sentences [N, H], token_counts [N], unknown_counts [N]
    Unknown words map to the UNK embedding; `unknown_counts` lets callers warn about them.
    A request holds at most `max_words` words per sentence, preprocess.MAX_SENTENCES sentences
    and preprocess.MAX_PADDED_WORDS sentences x longest sentence (INVALID_ARGUMENT beyond).
    """

    def embed(sentences, counts, width=None):
        batch, tokens, unknown = P.text_batch(table, sentences, counts, max_words)
        out = tower(batch, training=False, decode=False)
        result = {"paragraph": l2_normalize(out["paragraph"])}
        per_sentence = {"token_counts": tokens, "unknown_counts": unknown}
        if "sentences" in out:
            per_sentence["sentences"] = l2_normalize(out["sentences"])
        for k, v in per_sentence.items():
            result[k] = v if width is None else P.repad(v, counts, width)
        return result

    def serving_default(sentences, sentence_counts):
        counts = P.check_counts(sentence_counts, tf.shape(sentences)[1], "sentence_counts",
                                "sentences", max_sentences)
        return embed(P.unpad(sentences, counts), counts, tf.shape(sentences, out_type=tf.int64)[1])

    def ragged(sentences, paragraph_row_splits):
        counts = P.check_row_splits(paragraph_row_splits, tf.shape(sentences)[0],
                                    "paragraph_row_splits", "sentences", max_per_row=max_sentences)
        return embed(sentences, counts)

    spec = tf.TensorSpec
    return {
        "serving_default": (serving_default, [
            spec([None, None], tf.string, name="sentences"),
            spec([None], tf.int64, name="sentence_counts")]),
        "ragged": (ragged, [
            spec([None], tf.string, name="sentences"),
            spec([None], tf.int64, name="paragraph_row_splits")]),
    }
