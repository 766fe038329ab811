"""Preprocessing: the settings that turn a video's features into the model's clip inputs, as a
run records them. Training reads them from its flags; export, index build and the page read
them back from the run, so a model is served exactly as it was trained."""

import dataclasses

from hse_tf.data.data_config import DEFAULTS


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    max_frames: int = DEFAULTS.max_frames  # longer clips and whole videos are subsampled
    sort_by_time: bool = DEFAULTS.sort_by_time  # a video's clips (and sentences) in time order

    @classmethod
    def from_run(cls, cfg):
        """The preprocessing of a run config (run_config.json; older runs: the defaults)."""
        defaults = cls()
        return cls(max_frames=int(cfg.get("max_frames") or defaults.max_frames),
                   sort_by_time=bool(cfg.get("sort_by_time", defaults.sort_by_time)))

    def as_dict(self):
        return dataclasses.asdict(self)
