"""Built-in demo dataset in the ActivityNet layouts, generated deterministically in seconds.

    python -m hse_tf.data.demo --out data/demo

Writes train.json / val_1.json (ActivityNet Captions layout), c3d_features.hdf5 (C3D layout:
f[vid]['c3d_features'] float [T, D]), glove_demo.txt (GloVe text layout) and labels_{train,val}.csv
(TSP ground-truth layout; the class is the video's scene, e.g. 'kitchen').

Each video is a sequence of events; each event is one sentence ("a woman slices the bread in the
kitchen") and one clip. A clip's frames are the sum of its words' visual prototypes (actor, action,
object, place), with a drift over time and noise; frames between events show only the place. So
the text's meaning is in the features (retrieval is learnable), and a video is identified only by
the combination of its several short events (hierarchy matters: a flat model that subsamples the
whole video to 80 frames sees each event briefly and mixed with the others).
"""

import os

import numpy as np
from absl import app, flags, logging

from hse_tf.data.atomic import atomic_path
from hse_tf.data.features import write_features
from hse_tf.data.word_vectors import save_glove_txt

ACTORS = ["man", "woman", "boy", "girl", "chef", "dog", "player", "dancer"]
ACTIONS = [("slices", "sliced"), ("throws", "thrown"), ("paints", "painted"),
           ("washes", "washed"), ("holds", "held"), ("kicks", "kicked"), ("lifts", "lifted"),
           ("cleans", "cleaned"), ("carries", "carried"), ("pushes", "pushed"),
           ("opens", "opened"), ("drops", "dropped")]
OBJECTS = ["bread", "ball", "wall", "car", "guitar", "box", "bike", "door", "table", "bucket",
           "rope", "kite"]
PLACES = ["kitchen", "park", "beach", "gym", "street", "garden", "stage", "river"]
FILLER = ["a", "the", "in", "then", "again", "while", "near", "is"]


def _sentence(rng, actor, action, obj, place):
    verb = ACTIONS[action][0]
    forms = [f"A {ACTORS[actor]} {verb} the {OBJECTS[obj]} in the {PLACES[place]}.",
             f"The {ACTORS[actor]} {verb} a {OBJECTS[obj]} near the {PLACES[place]}.",
             f"Then the {ACTORS[actor]} {verb} the {OBJECTS[obj]} again."]
    return forms[rng.integers(len(forms))]


def generate(n_train=600, n_val=200, dim=64, word_dim=50, seed=0, min_events=2, max_events=5,
             fps=2.0, noise=2.0):
    """Returns (train_json, val_json, features {vid: [T, D]}, (words, vectors), scenes {vid: place}).

    The scene (the place every event of a video happens in) is the demo's video-level class, for
    the zero-shot and classifier heads.
    """
    rng = np.random.default_rng(seed)

    def protos(n, scale=1.0):
        p = rng.normal(size=(n, dim))
        return scale * p / np.linalg.norm(p, axis=1, keepdims=True) * np.sqrt(dim)

    p_actor, p_action = protos(len(ACTORS), 0.6), protos(len(ACTIONS), 1.0)
    p_obj, p_place = protos(len(OBJECTS), 0.8), protos(len(PLACES), 0.4)
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)  # fixed mixing, so no feature is one concept

    def video(vid_rng):
        n_ev = int(vid_rng.integers(min_events, max_events + 1))
        place = int(vid_rng.integers(len(PLACES)))
        actor = int(vid_rng.integers(len(ACTORS)))
        frames, stamps, sents = [], [], []
        t = int(vid_rng.integers(2, 12))
        frames.append(np.tile(p_place[place], (t, 1)))
        for _ in range(n_ev):
            ev_actor = actor if vid_rng.random() < 0.7 else int(vid_rng.integers(len(ACTORS)))
            action, obj = int(vid_rng.integers(len(ACTIONS))), int(vid_rng.integers(len(OBJECTS)))
            length = int(vid_rng.integers(4, 24))
            drift = np.linspace(0, 1, length)[:, None] * vid_rng.normal(size=(1, dim)) * 0.5
            body = (p_actor[ev_actor] + p_action[action] + p_obj[obj] + p_place[place]) + drift
            stamps.append([t / fps, (t + length) / fps])
            sents.append(_sentence(vid_rng, ev_actor, action, obj, place))
            frames.append(body)
            t += length
            gap = int(vid_rng.integers(10, 60))
            frames.append(np.tile(p_place[place], (gap, 1)))
            t += gap
        x = np.concatenate(frames)
        x = np.tanh((x + vid_rng.normal(scale=noise, size=x.shape)) @ mix * 0.5)
        return x.astype(np.float32), {"duration": round(len(x) / fps, 2),
                                      "timestamps": [[round(a, 2), round(b, 2)] for a, b in stamps],
                                      "sentences": sents}, PLACES[place]

    features, splits, scenes = {}, [], {}
    for name, n, offset in (("train", n_train, 0), ("val", n_val, n_train)):
        split = {}
        for k in range(n):
            vid = f"v_demo{offset + k:05d}"
            x, ann, scenes[vid] = video(np.random.default_rng([seed, offset + k]))
            features[vid] = x
            split[vid] = ann
        splits.append(split)
    words = sorted({w for w in ACTORS + OBJECTS + PLACES + FILLER}
                   | {a for pair in ACTIONS for a in pair})
    vectors = rng.normal(scale=0.4, size=(len(words), word_dim)).astype(np.float32)
    return splits[0], splits[1], features, (words, vectors), scenes


def write(out, **kwargs):
    """Writes the demo dataset under `out` (atomically, file by file). Returns the paths."""
    import json
    train, val, feats, (words, vectors), scenes = generate(**kwargs)
    os.makedirs(out, exist_ok=True)
    paths = {"train": os.path.join(out, "train.json"), "val_1": os.path.join(out, "val_1.json"),
             "features": os.path.join(out, "c3d_features.hdf5"),
             "word_vectors": os.path.join(out, "glove_demo.txt")}
    for key, split in (("train", train), ("val_1", val)):
        with atomic_path(paths[key]) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(split, f)
    write_features("c3d_hdf5", paths["features"], feats)
    save_glove_txt(paths["word_vectors"], words, vectors)
    for key, split in (("labels_train", train), ("labels_val", val)):
        paths[key] = os.path.join(out, f"{key}.csv")
        _write_tsp_labels(paths[key], {v: (split[v]["duration"], scenes[v]) for v in split})
    return paths


def _write_tsp_labels(path, labels):
    """Video-level classes in the TSP ground-truth CSV layout (one whole-video row each)."""
    import csv
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["video-name", "t-start", "t-end", "action-label", "video-duration",
                        "filename", "fps", "video-frames", "temporal-region-label"])
            for vid, (duration, label) in labels.items():
                w.writerow([vid[2:], 0.0, duration, label, duration, f"{vid}.mp4", 2.0,
                            int(round(duration * 2)), "Action"])


def ensure(out, **kwargs):
    """Writes the demo dataset unless it is already there (first use of configs/demo.flags)."""
    needed = ["c3d_features.hdf5", "glove_demo.txt", "labels_val.csv"]
    if not all(os.path.exists(os.path.join(out, n)) for n in needed):
        logging.info("Writing the demo dataset to %s", out)
        write(out, **kwargs)
    return out


FLAGS = flags.FLAGS


def main(argv):
    del argv
    paths = write(FLAGS.out, n_train=FLAGS.n_train, n_val=FLAGS.n_val, dim=FLAGS.dim,
                  seed=FLAGS.seed)
    for k, v in paths.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    flags.DEFINE_string("out", "data/demo", "Output folder.")
    flags.DEFINE_integer("n_train", 600, "Training videos.")
    flags.DEFINE_integer("n_val", 200, "Validation videos.")
    flags.DEFINE_integer("dim", 64, "Feature dimension.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    app.run(main)
