"""What do simple read-outs of the known-answer data retrieve? Means, cosines, a linear map.

    python bench/reference.py [--data data/known_answer] [--settings held,correlated,iid]
        [--train 2000] [--val 1000] [--ridge 10]

bench/quality.py says how the models rank; this gives a scale to read them on. The references
read the benchmark's features (the same folders bench/quality.py trains on, made by
bench/known_answer.py on first use) and two views of the text:
- "generator's text": a paragraph is the mean over its sentences of the mean visual prototype
  of each sentence's content words, exactly the signal bench/known_answer.py put on the
  sentence's frames (knowledge no model has: which words are shown, and as what);
- "plain text": the mean over its sentences of the mean GloVe vector of every token (what a
  model starts from, stop words included);
- "segments": a video is the mean over its annotated segments (the clips HSE also gets) of the
  segment's mean frame; "whole video": the mean of all its frames (FSE's view, no segments).
Rows: the cosine of the two as they are; the same after subtracting the training videos' and
paragraphs' means (centred); and a linear map from video to paragraph, fitted on the training
videos by ridge regression (--ridge: its L2 penalty) on the centred vectors, then the centred
cosine. None of them is a bound: a model keeps more than one mean per video (HSE reads the
clips one by one into 256 values), and HSE-GRU trained on all 10,009 videos passes them all.
They say what the data itself does: the uncentred cosine shows how much a paragraph's mean
shares with every other (its P->V against its V->P), and the plain text with a linear map
is what a model that neither weighs words nor reads them in order gets.
Prints paragraph->video and video->paragraph R@1/5/50 and median rank on the --val videos,
scored by hse_tf.metrics (the project's own retrieval maths).
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import known_answer  # noqa: E402
from hse_tf.data.features import open_features  # noqa: E402
from hse_tf.metrics import bidirectional_retrieval  # noqa: E402

DIRECTIONS = {"p2v": "P->V", "v2p": "V->P"}


def pairs(annotations, features, prototypes, glove):
    """{"segments", "whole video": videos [N, D]; "generator's text" [N, D], "plain text"
    [N, 50]: paragraphs} for the videos of an annotation dict that show a content word."""
    segments, whole, text, plain = [], [], [], []
    for vid, ann in annotations.items():
        x = features.get(vid)
        means, sentences, tokens_of = [], [], []
        for start, end, tokens in known_answer.segments(ann):
            words = known_answer.content_words(tokens, prototypes)
            if words:
                s, e = known_answer.frame_span(start, end, len(x))
                means.append(x[s:e].mean(0))
                sentences.append(np.mean([prototypes[w] for w in words], axis=0))
                tokens_of.append(np.mean([glove[w] for w in tokens if w in glove], axis=0))
        if means:
            segments.append(np.mean(means, 0))
            whole.append(x.mean(0))
            text.append(np.mean(sentences, 0))
            plain.append(np.mean(tokens_of, 0))
    return {"segments": np.asarray(segments), "whole video": np.asarray(whole),
            "generator's text": np.asarray(text), "plain text": np.asarray(plain)}


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def ridge(x, y, penalty):
    """W minimising |x W - y|^2 + penalty |W|^2."""
    return np.linalg.solve(x.T @ x + penalty * np.eye(x.shape[1]), x.T @ y)


ROWS = (("generator's text", "segments", "cosine"),
        ("generator's text", "segments", "centred cosine"),
        ("generator's text", "segments", "linear map"),
        ("generator's text", "whole video", "linear map"),
        ("plain text", "segments", "linear map"),
        ("plain text", "whole video", "linear map"))


def reference(train, val, text, video, how, penalty):
    """Retrieval metrics of one reference on one setting's (train, val) pairs()."""
    vid, txt = val[video], val[text]
    if how == "cosine":
        return bidirectional_retrieval(unit(vid), unit(txt))
    mv, mt = train[video].mean(0), train[text].mean(0)
    vid, txt = vid - mv, txt - mt
    if how == "linear map":
        vid = vid @ ridge(train[video] - mv, train[text] - mt, penalty)
    return bidirectional_retrieval(unit(vid), unit(txt))


def table(rows):
    first = "setting: text, video, reference"
    width = max(map(len, [*rows, first])) + 2
    lines = [f"{first:<{width}}" + "".join(f"{d + ' R@1/5/50 MR':>25}"
                                           for d in DIRECTIONS.values())]
    for name, m in rows.items():
        lines.append(f"{name:<{width}}" + "".join(
            f"{m[d]['R@1']:>8.1f} {m[d]['R@5']:>5.1f} {m[d]['R@50']:>5.1f} {m[d]['MR']:>4.0f}"
            for d in DIRECTIONS))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(known_answer.ROOT, "data", "known_answer"))
    p.add_argument("--settings", default="held,correlated,iid",
                   help=f"of {sorted(known_answer.SETTINGS)}")
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--ridge", type=float, default=10.0)
    args = p.parse_args()
    if not os.path.exists(known_answer.GLOVE):
        sys.exit(f"reference: needs the real annotations and GloVe vectors under "
                 f"{known_answer.SHARED}")
    words, vectors, prototypes = known_answer.word_prototypes(args.dim, seed=0)
    glove = dict(zip(words, vectors))
    rows = {}
    for setting in args.settings.split(","):
        paths = known_answer.ensure(os.path.join(args.data, setting), n_train=args.train,
                                    n_val=args.val, dim=args.dim, seed=0,
                                    **known_answer.SETTINGS[setting])
        features = open_features("c3d_hdf5", paths["features"])
        split = {}
        for key in ("train", "val_1"):
            with open(paths[key], encoding="utf-8") as f:
                split[key] = pairs(json.load(f), features, prototypes, glove)
        features.close()
        for text, video, how in ROWS:
            rows[f"{setting}: {text}, {video}, {how}"] = reference(
                split["train"], split["val_1"], text, video, how, args.ridge)
    print(f"{args.train} train / {args.val} val videos; linear map: ridge {args.ridge}")
    print(table(rows))


if __name__ == "__main__":
    main()
