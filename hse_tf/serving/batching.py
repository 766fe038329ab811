"""Server-side batching for the development server, with TF Serving's batching.config.

    max_batch_size { value: 64 }          rows (dimension 0) per merged call
    batch_timeout_micros { value: 2000 }  how long the first request of a batch waits for others
    max_enqueued_batches { value: 100 }   queue bound (x max_batch_size requests); beyond it,
                                          UNAVAILABLE, as TF Serving answers a full queue
    num_batch_threads { value: 4 }        batches run concurrently
    pad_variable_length_inputs: true      accepted; see below

Requests whose inputs all share dimension 0 (the padded `serving_default` signatures) are queued;
a batch thread takes the first, waits up to the timeout for more, and runs the signature once on
the rows concatenated along dimension 0, then hands each request its own rows. Only requests with
the same shapes beyond dimension 0 are merged (others run in their own group in the same round),
so no answer depends on another request's padding: concurrent requests get the answers they get
alone (tested). If a merged call fails (one request's values are rejected by the model), each
request of the group is rerun alone, so only the bad one gets INVALID_ARGUMENT.
"""

import concurrent.futures
import dataclasses
import queue
import re
import threading
import time

import numpy as np


@dataclasses.dataclass
class BatchingParameters:
    max_batch_size: int = 64
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 100
    num_batch_threads: int = 4
    pad_variable_length_inputs: bool = True

    @classmethod
    def parse(cls, text, source="batching.config"):
        """TF Serving's text format (`name { value: N }` or `name: value` lines)."""
        out = cls()
        text = re.sub(r"#.*", "", text)
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        for m in re.finditer(r"(\w+)\s*(?:\{\s*value\s*:\s*([^\s}]+)\s*\}|:\s*(\S+))", text):
            name, value = m.group(1), m.group(2) or m.group(3)
            if name not in fields:
                raise ValueError(f"{source}: unknown batching parameter {name!r}")
            try:
                setattr(out, name, value.lower() == "true" if fields[name] is bool
                        else int(value))
            except ValueError:
                raise ValueError(f"{source}: {name}: not an integer: {value!r}") from None
        if out.max_batch_size < 1 or out.num_batch_threads < 1:
            raise ValueError(f"{source}: max_batch_size and num_batch_threads must be >= 1")
        return out

    @classmethod
    def from_file(cls, path):
        with open(path) as f:
            return cls.parse(f.read(), path)


class QueueFull(Exception):
    """More requests are waiting than max_enqueued_batches x max_batch_size."""


@dataclasses.dataclass
class _Item:
    fn: object
    key: tuple
    inputs: dict
    rows: int
    future: concurrent.futures.Future


def call_signature(fn, inputs):
    """A signature function on numpy inputs (converted to its input dtypes) -> numpy outputs."""
    import tensorflow as tf
    specs = fn.structured_input_signature[1]
    out = fn(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


def batchable(inputs):
    """The rows of a request whose inputs all have the same dimension 0, else None."""
    sizes = {v.shape[0] if v.ndim else None for v in inputs.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()


class Batcher:
    """Merges concurrent calls of the same function along dimension 0 (see the module doc)."""

    def __init__(self, params: BatchingParameters):
        self.params = params
        self._queue = queue.Queue()
        self._limit = params.max_enqueued_batches * params.max_batch_size
        self._threads = [threading.Thread(target=self._work, daemon=True)
                         for _ in range(params.num_batch_threads)]
        self._take = threading.Lock()  # one thread forms a batch at a time
        self.merged_calls = 0  # calls that ran more than one request (for tests and logs)
        for t in self._threads:
            t.start()

    def submit(self, name, fn, inputs, rows):
        """Queues fn(**inputs) (a signature function; numpy inputs with `rows` along dimension
        0); calls with the same `name` and shapes beyond dimension 0 may be merged. Returns a
        Future of {output name: numpy array of this request's rows}."""
        if self._queue.qsize() >= self._limit:
            raise QueueFull(f"the batching queue is full ({self._limit} requests)")
        key = (name,) + tuple(sorted((k, v.shape[1:], v.dtype.str) for k, v in inputs.items()))
        item = _Item(fn, key, inputs, rows, concurrent.futures.Future())
        self._queue.put(item)
        return item.future

    def _collect(self):
        with self._take:
            first = self._queue.get()
            batch, rows = [first], first.rows
            deadline = time.monotonic() + self.params.batch_timeout_micros / 1e6
            while rows < self.params.max_batch_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if rows + item.rows > self.params.max_batch_size:
                    self._queue.put(item)  # goes into the next batch
                    break
                batch.append(item)
                rows += item.rows
        return batch

    def _work(self):
        while True:
            batch = self._collect()
            groups = {}
            for item in batch:
                groups.setdefault(item.key, []).append(item)
            for items in groups.values():
                self._run(items)


    def _run(self, items):
        if len(items) == 1:
            self._run_alone(items[0])
            return
        merged = {k: np.concatenate([it.inputs[k] for it in items]) for k in items[0].inputs}
        try:
            out = call_signature(items[0].fn, merged)
            self.merged_calls += 1
        except Exception:  # one request's values were rejected: answer each on its own
            for it in items:
                self._run_alone(it)
            return
        start = 0
        for it in items:
            it.future.set_result({k: v[start:start + it.rows] for k, v in out.items()})
            start += it.rows

    def _run_alone(self, item):
        try:
            item.future.set_result(call_signature(item.fn, item.inputs))
        except Exception as e:
            item.future.set_exception(e)
