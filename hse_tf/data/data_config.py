"""DataConfig: what a run trains on and how its inputs are cut, with its defaults and flags."""

import dataclasses

from hse_tf.data.clips import MAX_FRAMES, SORT_BY_TIME
from hse_tf.data.errors import BAD_INPUT_POLICIES
from hse_tf.data.options import option

RANDOM_WORD_VECTORS = "random"  # --word_vectors=random: no GloVe; learned from N(0, 0.1)
DEMO = "demo"  # --dataset=demo: the built-in demo dataset


def _datasets():
    from hse_tf.data.annotations import READERS
    return sorted(READERS) + [DEMO]


def _layouts():
    from hse_tf.data.features import LAYOUTS
    return sorted(LAYOUTS)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The data options of a run (run_config.json keys; the trainer's flags of the same names).
    max_frames and sort_by_time are also the run's preprocessing (data.Preprocessing), which
    export, index and the page read back from the run."""

    dataset: str = option("activitynet", "Annotation layout ('demo' writes and uses the "
                          "built-in demo dataset).", choices=_datasets)
    train_annotations: str = option(None, "Training annotation file.")
    val_annotations: str = option(None, "Validation annotation file.")
    train_subset: str = option("training", "YouCook2 subset used for training.")
    val_subset: str = option("validation", "YouCook2 subset used for validation.")
    features: str = option(None, "Feature file or folder.")
    feature_layout: str = option("c3d_hdf5", "Layout of --features.", choices=_layouts)
    cache_features: bool = option(False, "Hold the features in memory after the first read "
                                  "(when they fit): later epochs and validation do not touch "
                                  "the disk.")
    feature_dim: int = option(0, "Expected feature dimension (0: read from the file).")
    word_vectors: str = option(None, f"GloVe .txt or {{words, vectors}} .npz; "
                               f"'{RANDOM_WORD_VECTORS}': learned from random (--word_dim).")
    word_dim: int = option(300, "Random word vectors' size.", lower_bound=1)
    min_word_count: int = option(1, "Words seen fewer times in training map to UNK.")
    max_frames: int = option(MAX_FRAMES, "Longer clips and whole videos are subsampled to "
                             "this.", lower_bound=2)
    on_bad_input: str = option("error", "Bad videos/sentences: stop with an error, or skip "
                               "and count them.", choices=BAD_INPUT_POLICIES)
    sort_by_time: bool = option(SORT_BY_TIME, "Put each video's (segment, sentence) pairs in time "
                                "order.")
    demo_dir: str = option("data/demo", "Where --dataset=demo writes its files.")
    action_labels: str = option(None, "Optional TSP CSV: action labels for the projector.")


DEFAULTS = DataConfig()
