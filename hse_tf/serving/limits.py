"""What one request may cost the development server, checked before anything is materialised.

A TensorProto declares its shape separately from its values, and TensorFlow's make_ndarray
repeats the last value to fill the shape: a 126-byte request can declare 100,000 strings and a
231-byte one 4M x 64 floats. So every input is checked on its declared shape first:

- elements and bytes against `max_elements` / `max_bytes` (RESOURCE_EXHAUSTED), and string
  inputs against `max_strings`;
- the values it carries must fill the shape exactly (INVALID_ARGUMENT), except for shapes of at
  most `broadcast_max` elements, where TensorFlow's fill rule stays allowed;
- all requests in flight together may hold at most `max_inflight_bytes` of declared inputs;
  beyond, new ones get RESOURCE_EXHAUSTED until the others finish; and gRPC itself runs at most
  `max_concurrent_rpcs` at once (RESOURCE_EXHAUSTED beyond).
"""

import dataclasses
import math
import threading

import tensorflow as tf

# Which repeated field of a TensorProto carries the values of each dtype.
_VALUE_FIELDS = ("half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val",
                 "int64_val", "bool_val", "dcomplex_val", "uint32_val", "uint64_val")
# gRPC's message limit of the server and the client: a batch of long videos' features easily
# exceeds gRPC's 4 MB default.
MAX_MESSAGE = 256 << 20
STRING_OVERHEAD = 64  # bytes counted per string element (numpy object + Python bytes header)


class LimitError(Exception):
    """A request over a limit; `code` is the gRPC status to answer with."""

    def __init__(self, code_name, message):
        super().__init__(message)
        self.code_name = code_name


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    max_elements: int = 1 << 26           # per input (64M float32 = 256 MB)
    max_bytes: int = MAX_MESSAGE          # per input, declared; = the gRPC message limit
    max_strings: int = 1 << 16            # per string input (sentences in a request)
    broadcast_max: int = 1024             # shapes up to this may be filled from fewer values
    max_inflight_bytes: int = 1 << 30     # declared input bytes of all requests in flight
    max_concurrent_rpcs: int = 64


def declared_bytes(name, proto, limits):
    """Checks one input's declared shape and carried values; returns its declared bytes."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(d < 0 for d in dims):
        raise LimitError("INVALID_ARGUMENT", f"input '{name}': shape {dims} is not fully known")
    elements = math.prod(dims)
    if elements > limits.max_elements:
        raise LimitError("RESOURCE_EXHAUSTED", f"input '{name}': shape {dims} declares "
                         f"{elements:,} elements; the limit is {limits.max_elements:,}")
    try:
        dtype = tf.dtypes.as_dtype(proto.dtype)
    except TypeError:
        raise LimitError("INVALID_ARGUMENT", f"input '{name}': unknown dtype "
                         f"{proto.dtype}") from None
    if dtype == tf.string:
        if elements > limits.max_strings:
            raise LimitError("RESOURCE_EXHAUSTED", f"input '{name}': {elements:,} strings; the "
                             f"limit is {limits.max_strings:,}")
        carried = len(proto.string_val)
        size = sum(len(s) for s in proto.string_val)
        if carried and elements > carried:  # filled by repeating the last string
            size += (elements - carried) * len(proto.string_val[-1])
        size += elements * STRING_OVERHEAD
    else:
        size = elements * dtype.size
        if proto.tensor_content:
            carried = len(proto.tensor_content) // max(dtype.size, 1)
            if len(proto.tensor_content) != size:
                raise LimitError("INVALID_ARGUMENT", f"input '{name}': shape {dims} needs "
                                 f"{size:,} bytes of tensor_content, got "
                                 f"{len(proto.tensor_content):,}")
        else:
            carried = sum(len(getattr(proto, f)) for f in _VALUE_FIELDS if f != "string_val")
            if dtype.is_complex:
                carried //= 2
    if size > limits.max_bytes:
        raise LimitError("RESOURCE_EXHAUSTED", f"input '{name}': shape {dims} declares "
                         f"{size:,} bytes; the limit is {limits.max_bytes:,}")
    if carried != elements and (elements > limits.broadcast_max or carried > elements):
        raise LimitError("INVALID_ARGUMENT", f"input '{name}': shape {dims} has {elements:,} "
                         f"elements but the request carries {carried:,} values")
    return size


def request_bytes(inputs, limits):
    """Declared bytes of all of a request's inputs ({name: TensorProto}); LimitError naming the
    first input over a limit."""
    return sum(declared_bytes(name, proto, limits) for name, proto in inputs.items())


def max_message_bytes(limits):
    """The largest gRPC message the server accepts: one input's byte limit, and never more than
    all requests in flight may hold together (gRPC reads a whole message before any check)."""
    return int(min(limits.max_bytes, limits.max_inflight_bytes))


class InflightBudget:
    """Declared bytes of the requests being served; `take` refuses what would exceed the cap."""

    def __init__(self, cap):
        self.cap, self.used = cap, 0
        self._lock = threading.Lock()

    def take(self, n):
        if n > self.cap:  # could never be served, however long the client waits
            raise LimitError("INVALID_ARGUMENT",
                             f"request declares {n:,} bytes of inputs, more than the server "
                             f"holds for all requests together ({self.cap:,}); send fewer "
                             f"videos or sentences per request")
        with self._lock:
            if self.used + n > self.cap:
                raise LimitError("RESOURCE_EXHAUSTED",
                                 f"server busy: {self.used:,} bytes of requests in flight, this "
                                 f"one declares {n:,}; the limit is {self.cap:,} (retry later)")
            self.used += n

    def give(self, n):
        with self._lock:
            self.used -= n
