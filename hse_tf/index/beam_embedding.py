"""Gallery embedding as an Apache Beam pipeline: RunInference over the exported hse_video model.

    python -m hse_tf.index build --runner DirectRunner ...          # local, in threads
    python -m hse_tf.index build --runner DataflowRunner --project P --region R \\
        --temp_location gs://B/tmp ...                               # any Beam runner

The pipeline reads each video's features, cuts its clips (annotations or uniform segments, the
same rules as the local build), embeds batches with RunInference (a ModelHandler that loads the
SavedModel once per worker), groups the results by shard and writes the shard files the local
build writes (<out>.partial/shards/NNNNN.npz, atomically). The calling process then assembles
the index from the shards, as after a local build; shards already present are not redone.
Workers must see the feature file and the output folder at the same paths (a shared or mounted
filesystem).
"""

from hse_tf.index.shards import shard_done, shard_path, write_shard


def _beam():
    try:
        import apache_beam as beam
    except ImportError:
        raise ImportError("--runner needs Apache Beam: pip install 'hse_tf[beam]'") from None
    return beam


def embed_shards(models_dir, store, jobs, shard_dir, span_fn, batch_size, runner,
                 pipeline_args=(), skip_bad=False, version=None):
    """Runs the pipeline for `jobs` = [(shard index, [(position, video id), ...])] and writes
    those shards. `span_fn(video_id, features)` gives a video's inclusive frame spans. A video
    whose features or spans raise DataError fails the pipeline, or with `skip_bad` is left out
    (Beam counter hse_tf/bad_videos); a shard left empty is still written. `version`: the
    export version whose hse_video the workers load (the one the build records)."""
    beam = _beam()
    from apache_beam.ml.inference.base import (KeyedModelHandler, ModelHandler,
                                               PredictionResult, RunInference)
    from apache_beam.options.pipeline_options import PipelineOptions

    from hse_tf.data.errors import DataError

    class VideoTowerHandler(ModelHandler):
        """Batches of (features [T, D], spans) -> (video embedding, clip embeddings)."""

        def __init__(self):
            super().__init__()
            self._models_dir, self._batch, self._version = models_dir, batch_size, version

        def load_model(self):
            from hse_tf.index.encoders import Encoders
            encoders = Encoders(self._models_dir, self._version)
            encoders.video  # load now, once per worker
            return encoders

        def run_inference(self, batch, model, inference_args=None):
            video, clips = model.embed_videos([b[0] for b in batch], [b[1] for b in batch])
            return [PredictionResult(b, (video[i], None if clips is None else clips[i]))
                    for i, b in enumerate(batch)]

        def batch_elements_kwargs(self):
            return {"max_batch_size": self._batch}

    bad = beam.metrics.Metrics.counter("hse_tf", "bad_videos")

    def read(item):
        shard, position, vid = item
        try:
            feats = store.get(vid)
            spans = span_fn(vid, feats)
        except DataError:
            if not skip_bad:
                raise
            bad.inc()
            return
        yield (shard, position, vid), (feats, spans)

    def tidy(kv):
        (shard, position, vid), result = kv
        video, clips = result.inference
        return shard, (position, vid, video, clips, result.example[1])

    def write(kv):
        shard, rows = kv
        rows = list(rows)
        write_shard(shard_path(shard_dir, shard), rows)
        yield len(rows)

    items = [(shard, pos, vid) for shard, members in jobs for pos, vid in members]
    options = PipelineOptions(["--runner", runner, *pipeline_args])
    with beam.Pipeline(options=options) as p:
        _ = (p
             | "videos" >> beam.Create(items)
             | "read features, cut clips" >> beam.FlatMap(read)
             | "embed (RunInference)" >> RunInference(KeyedModelHandler(VideoTowerHandler()))
             | "by shard" >> beam.Map(tidy)
             | "group" >> beam.GroupByKey()
             | "write shards" >> beam.FlatMap(write))
    for shard, _ in jobs:  # every video of the shard was skipped
        path = shard_path(shard_dir, shard)
        if not shard_done(path):
            write_shard(path, [])
