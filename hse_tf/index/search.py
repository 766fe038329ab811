"""Queries against a built index: text -> videos or clips, and video -> paragraphs."""

import re

from hse_tf.data.vocabulary import tokenize


class QueryError(ValueError):
    """A query the index cannot answer as asked (names what is wrong). `hint`: what a
    command-line user can do about it (a flag); str() includes it, `plain` leaves it out (the
    search page's wording)."""

    def __init__(self, message, hint=None):
        super().__init__(f"{message} ({hint})" if hint else message)
        self.plain = message


def split_sentences(text):
    """A query paragraph -> sentences (split after . ! ?); a query without them is one sentence."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text.strip())]
    return [p for p in parts if p]


def _results(index, scores, rows):
    return [{"rank": r + 1, "id": index.ids[int(i)], "score": float(s)}
            for r, (s, i) in enumerate(zip(scores, rows)) if i >= 0]


def embed_query(encoders, query, on_unknown="rank", one_sentence=False):
    """A text query -> (sentences, the text model's outputs, warnings). on_unknown: 'rank'
    warns and lets the model embed unknown words as UNK; 'refuse' raises QueryError when no word
    is known. `one_sentence`: refuse a query of several sentences (a clip search)."""
    if not tokenize(query):
        raise QueryError(f"query {query!r} has no words")
    sentences = split_sentences(query)
    if one_sentence and len(sentences) > 1:
        raise QueryError(f"a moment search takes one sentence; this query has {len(sentences)}")
    out = encoders.embed_text([sentences])
    tokens, unknown = int(out["token_counts"].sum()), int(out["unknown_counts"].sum())
    warnings = []
    if unknown == tokens:
        msg = f"no word of the query {query!r} is in the model's vocabulary"
        if on_unknown == "refuse":
            raise QueryError(msg, hint="--on_unknown=rank ranks by the UNK embedding")
        warnings.append(msg + "; ranking by the UNK embedding")
    elif unknown:
        warnings.append(f"{unknown} of {tokens} query words are not in the vocabulary")
    return sentences, out, warnings


def query_vector(index, out):
    """The query embedding [1, D] for `index`: the first sentence's for a clip index, the
    paragraph's for a video index."""
    if index.metadata.get("content") == "clips":
        if "sentences" not in out:
            raise QueryError("this model is flat (FSE): it has no sentence embeddings")
        q = out["sentences"][0, :1]
    else:
        q = out["paragraph"]
    if q.shape[1] != index.dim:
        raise QueryError(f"the text model gives {q.shape[1]}-d embeddings but the index holds "
                         f"{index.dim}-d ones (built with {index.metadata.get('model')}); use "
                         f"the models the index was built with")
    return q


def text_query(index, encoders, query, k=10, on_unknown="rank"):
    """Top-k rows of a video index (paragraph embedding) or a clip index (sentence embedding,
    one sentence) for a text query. on_unknown: 'rank' warns and ranks by what the model makes
    of unknown words (the UNK embedding); 'refuse' raises QueryError."""
    _, out, warnings = embed_query(encoders, query, on_unknown,
                                   one_sentence=index.metadata.get("content") == "clips")
    scores, rows = index.search(query_vector(index, out), k)
    return _results(index, scores[0], rows[0]), warnings


def video_query(index, video_id, text_index, k=10):
    """The paragraphs of `text_index` nearest to a video of `index` (video -> text)."""
    try:
        row = index.ids.index(video_id)
    except ValueError:
        raise QueryError(f"video {video_id!r} is not in the index") from None
    if text_index.dim != index.dim:
        raise QueryError(f"text index is {text_index.dim}-d, video index {index.dim}-d")
    scores, rows = text_index.search(index.embeddings[row:row + 1], k)
    results = _results(text_index, scores[0], rows[0])
    firsts = text_index.metadata.get("first_sentences")
    if firsts:
        for r, i in zip(results, rows[0]):
            r["first_sentence"] = firsts[int(i)]
    return results


def as_table(results):
    lines = []
    for r in results:
        rid = r["id"]
        if isinstance(rid, dict):  # a clip
            where = (f"{rid['start']:.1f}-{rid['end']:.1f} s" if "start" in rid
                     else f"frames {rid['start_frame']}-{rid['end_frame']}")
            rid = f"{rid['video']} [{where}]"
        extra = f"  {r['first_sentence']}" if "first_sentence" in r else ""
        lines.append(f"{r['rank']:>4}  {r['score']:+.4f}  {rid}{extra}")
    return "\n".join(lines)
