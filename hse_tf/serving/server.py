"""A loopback gRPC PredictionService over exported SavedModels: a development stand-in for TF Serving.

    python -m hse_tf.serving.server --models_dir models --port 8500
    python -m hse_tf.serving.server --model_config_file serving/models.config --models_dir models

TF Serving's model server cannot be installed from PyPI or Debian, so this server implements
the same gRPC API (tensorflow_serving.apis PredictionService: Predict and GetModelMetadata) with
TF Serving's status codes: INVALID_ARGUMENT for bad inputs (missing, unexpected, wrong dtype or
shape, or rejected by the model's own checks), NOT_FOUND for an unknown model, version or
signature. It is for local use and tests; deploy with TF Serving (see Dockerfile). Clients cannot
tell the two apart.
"""

import concurrent.futures
import logging

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from hse_tf.serving.batching import (Batcher, BatchingParameters, QueueFull, batchable,
                                     call_signature)
from hse_tf.serving.model_registry import ModelRegistry, NotFound

MAX_MESSAGE = 256 * 2**20  # a batch of long videos' features easily exceeds gRPC's 4 MB default


class RequestError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _first_line(error):
    """The useful part of a TF error message: the assertion text, without the graph dump
    ('Graph execution error', 'Detected at node', stack frames, node names)."""
    text = getattr(error, "message", str(error))
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("Graph execution error", "Detected at node", "File ",
                                        "<stack traces", "[[")):
            continue
        return line.split("\t [[")[0].strip()
    return type(error).__name__


def _check_inputs(request, fn, signature_name):
    specs = fn.structured_input_signature[1]
    given = set(request.inputs)
    missing = sorted(set(specs) - given)
    if missing:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"missing input(s) {missing} for signature '{signature_name}'; "
                           f"expects {sorted(specs)}")
    extra = sorted(given - set(specs))
    if extra:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"unexpected input(s) {extra} for signature '{signature_name}'; "
                           f"expects {sorted(specs)}")
    out = {}
    for name, spec in specs.items():
        proto = request.inputs[name]
        if proto.dtype != spec.dtype.as_datatype_enum:
            got = tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else "unset"
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input '{name}': expects dtype {spec.dtype.name}, got {got}")
        try:
            value = tf.make_ndarray(proto)
        except Exception as e:  # malformed TensorProto (content does not match shape)
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input '{name}': malformed tensor: {e}") from None
        if not spec.shape.is_compatible_with(value.shape):
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input '{name}': expects shape {spec.shape} "
                               f"(None = any), got {list(value.shape)}")
        out[name] = value
    return out


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry, batching=None):
        self.registry = registry
        self.batcher = Batcher(batching) if batching is not None else None

    def _servable(self, spec):
        version = spec.version.value if spec.HasField("version") else None
        return self.registry.get(spec.name, version, spec.version_label or None)

    def Predict(self, request, context):
        try:
            servable = self._servable(request.model_spec)
            sig = request.model_spec.signature_name or "serving_default"
            if sig not in servable.signatures:
                raise NotFound(f"Serving signature key \"{sig}\" not found. Model "
                               f"{servable.name} has {sorted(servable.signatures)}")
            fn = servable.signatures[sig]
            inputs = _check_inputs(request, fn, sig)
            wanted = list(request.output_filter)
            unknown = sorted(set(wanted) - set(fn.structured_outputs))
            if unknown:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"output_filter: unknown output(s) {unknown}")
            try:
                outputs = self._run(servable, sig, fn, inputs)
            except QueueFull as e:
                raise RequestError(grpc.StatusCode.UNAVAILABLE, str(e)) from None
            except tf.errors.InvalidArgumentError as e:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, _first_line(e)) from None
            except tf.errors.ResourceExhaustedError as e:
                raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, _first_line(e)) from None
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = sig
            for name, value in outputs.items():
                if not wanted or name in wanted:
                    response.outputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
            return response
        except NotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except RequestError as e:
            context.abort(e.code, str(e))
        except Exception as e:  # never let one request take the server down
            logging.exception("Predict failed")
            context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    def _run(self, servable, sig, fn, inputs):
        """The signature on these (numpy) inputs: merged with concurrent requests by the batcher
        when batching is on and every input is batched along dimension 0, else directly."""
        if self.batcher is not None:
            rows = batchable(inputs)
            if rows is not None:
                name = (servable.name, servable.version, sig)
                return self.batcher.submit(name, fn, inputs, rows).result()
        return call_signature(fn, inputs)

    def GetModelMetadata(self, request, context):
        try:
            servable = self._servable(request.model_spec)
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"metadata_field must be ['signature_def'], got {fields}")
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for k, v in servable.signature_defs.items():
                sig_map.signature_def[k].CopyFrom(v)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(sig_map)
            return response
        except NotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except RequestError as e:
            context.abort(e.code, str(e))


def start_server(registry, port=0, host="127.0.0.1", workers=16, batching=None):
    """Starts serving `registry` on host:port (0 = any free port); returns (server, port).
    `batching`: a BatchingParameters to merge concurrent requests (TF Serving's
    --enable_batching), or None."""
    service = PredictionService(registry, batching)
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                  ("grpc.max_send_message_length", MAX_MESSAGE)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        service, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind {host}:{port}")
    server.start()
    server._hse_service = service  # for tests and benchmarks (the batcher's counters)
    return server, bound


def main(argv):
    from absl import flags

    from hse_tf.cli import configure_cpu_threads
    f = flags.FLAGS
    configure_cpu_threads(f.cpu_threads)
    if f.model_config_file:
        registry = ModelRegistry.from_config(f.model_config_file, f.models_dir)
    elif f.models_dir:
        registry = ModelRegistry.from_dir(f.models_dir)
    else:
        raise SystemExit("give --models_dir and/or --model_config_file")
    batching = None
    if f.enable_batching:
        batching = (BatchingParameters.from_file(f.batching_parameters_file)
                    if f.batching_parameters_file else BatchingParameters())
    server, port = start_server(registry, f.port, f.host, batching=batching)
    for name, versions in registry.models.items():
        print(f"serving {name} versions {sorted(versions)}", flush=True)
    print(f"PredictionService (development stand-in for TF Serving) on {f.host}:{port}",
          flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    from absl import app, flags
    flags.DEFINE_string("models_dir", None, "Folder of <name>/<version>/saved_model.pb.")
    flags.DEFINE_string("model_config_file", None, "TF Serving models.config (model_config_list).")
    flags.DEFINE_integer("port", 8500, "gRPC port (TF Serving's default 8500).")
    flags.DEFINE_string("host", "127.0.0.1", "Address to bind (loopback by default).")
    flags.DEFINE_string("cpu_threads", "auto", "CPU-only thread pools: auto (one thread per op, "
                        "cores ops at once; measured lower latency on 2 cores), default, or "
                        "INTRA,INTER (TF Serving: --tensorflow_intra_op_parallelism / "
                        "--tensorflow_inter_op_parallelism).")
    flags.DEFINE_bool("enable_batching", False, "Merge concurrent requests (TF Serving's flag).")
    flags.DEFINE_string("batching_parameters_file", None,
                        "TF Serving batching.config (max_batch_size, batch_timeout_micros, "
                        "max_enqueued_batches, num_batch_threads).")
    from hse_tf import cli
    cli.run_absl(main)
