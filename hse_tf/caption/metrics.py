"""Caption metrics with the standard COCO tools (pycocoevalcap): BLEU@1-4, METEOR, CIDEr.

Scores are x100. The PTB tokenizer and METEOR are Java programs shipped with pycocoevalcap;
without Java, the scores fall back to a Python tokenizer and leave METEOR out, and say so.
"""

import re
import shutil
import subprocess

from hse_tf.data.clips import temporal_iou


def java_available():
    java = shutil.which("java")
    if not java:
        return False
    try:
        return subprocess.run([java, "-version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _simple_tokenize(captions):
    """Java-free stand-in for the PTB tokenizer: lower case, punctuation removed."""
    return {k: [" ".join(re.findall(r"[a-z0-9]+(?:'[a-z]+)?", c.lower())) for c in v]
            for k, v in captions.items()}


def caption_scores(predictions, references, use_java=None, log=print):
    """predictions {key: caption}, references {key: [captions]} -> {metric: score x 100}.

    Every reference key needs a prediction and vice versa (a missing one is an error naming
    it, not a silently smaller test set).
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    missing = sorted(set(references) - set(predictions))
    extra = sorted(set(predictions) - set(references))
    if missing or extra:
        raise ValueError(f"predictions and references differ: {len(missing)} keys without a "
                         f"prediction (first {missing[:3]}), {len(extra)} without references "
                         f"(first {extra[:3]})")
    empty = [k for k, v in references.items() if not v]
    if empty:
        raise ValueError(f"keys with no reference caption: {empty[:3]}")
    if use_java is None:
        use_java = java_available()
    res = {k: [predictions[k]] for k in references}
    if use_java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
        tok = PTBTokenizer()
        gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in references.items()})
        res = tok.tokenize({k: [{"caption": c[0]}] for k, c in res.items()})
    else:
        log("Java not found: PTB tokenizer replaced by a Python one and METEOR skipped "
            "(install a Java runtime for the standard numbers)")
        gts, res = _simple_tokenize(references), _simple_tokenize(res)
    out = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n, b in enumerate(bleu, 1):
        out[f"BLEU@{n}"] = 100 * b
    if use_java:
        from pycocoevalcap.meteor.meteor import Meteor
        meteor = Meteor()  # a Java subprocess, stopped when the object is collected
        out["METEOR"] = 100 * meteor.compute_score(gts, res)[0]
        del meteor
    out["CIDEr"] = 100 * Cider().compute_score(gts, res)[0]
    return out


def align_dense_predictions(results, annotations):
    """Dense-captioning output {vid: [{sentence, timestamp}]} -> per-ground-truth-clip captions
    (the HSE protocol): each annotated segment takes the predicted sentence whose timestamp
    overlaps it most (tIoU). Returns (predictions, references) keyed 'vid#i'; videos without
    predictions are left out and counted in the third value."""
    predictions, references, skipped = {}, {}, 0
    for ann in annotations:
        preds = results.get(ann.video_id)
        if not preds:
            skipped += 1
            continue
        for i, (seg, sentence) in enumerate(zip(ann.segments, ann.sentences)):
            best = max(preds, key=lambda p: temporal_iou(p["timestamp"], seg))
            predictions[f"{ann.video_id}#{i}"] = best["sentence"]
            references[f"{ann.video_id}#{i}"] = [sentence]
    return predictions, references, skipped
