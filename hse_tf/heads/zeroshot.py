"""Zero-shot action recognition: class names through the sentence encoder, ranked by cosine."""

import numpy as np

from hse_tf.data.vocabulary import UNK_ID
from hse_tf.heads.whole_video import topk_accuracy
from hse_tf.losses.ranking import l2_normalize


def embed_class_names(model, vocab, names):
    """Each name as a one-sentence paragraph -> ([C, H] sentence embeddings (HSE) or paragraph
    embeddings (FSE), names whose words are all unknown, names with some unknown words)."""
    ids = vocab.ids_all(names)
    empty = [n for n, i in zip(names, ids) if not i]
    if empty:
        raise ValueError(f"class names with no words at all: {empty}")
    no_known = [n for n, i in zip(names, ids) if all(t == UNK_ID for t in i)]
    some_unknown = [n for n, i in zip(names, ids) if UNK_ID in i and n not in no_known]
    batch = {"words": np.concatenate(ids).astype(np.int32),
             "word_lengths": np.asarray([len(i) for i in ids], np.int32),
             "sentence_counts": np.ones(len(ids), np.int32)}
    out = model.text_tower(batch, training=False, decode=False)
    emb = out["sentences"] if "sentences" in out else out["paragraph"]
    return l2_normalize(emb).numpy(), no_known, some_unknown


def zero_shot(video_emb, class_emb, labels, class_names):
    """video_emb [N, H], class_emb [C, H], labels: list of label-name sets -> metrics dict."""
    index = {n: i for i, n in enumerate(class_names)}
    truth = [{index[n] for n in lab} for lab in labels]
    scores = video_emb @ class_emb.T
    return {**topk_accuracy(scores, truth), "videos": len(truth), "classes": len(class_names),
            "chance_top1": 100.0 / len(class_names)}
