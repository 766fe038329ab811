"""A loopback gRPC PredictionService over exported SavedModels: a development stand-in for TF Serving.

    python -m hse_tf.serving.server --models_dir models --port 8500
    python -m hse_tf.serving.server --model_config_file serving/models.config --models_dir models
    python -m hse_tf.serving.server --models_dir models --host 0.0.0.0 \
        --ssl_cert server.crt --ssl_key server.key --auth_token_file token.txt

TF Serving's model server cannot be installed from PyPI or Debian, so this server implements
the same gRPC API (tensorflow_serving.apis PredictionService: Predict and GetModelMetadata) with
TF Serving's status codes: INVALID_ARGUMENT for bad inputs (missing, unexpected, wrong dtype or
shape, or rejected by the model's own checks), NOT_FOUND for an unknown model, version or
signature. It is for local use and tests; deploy with TF Serving (see Dockerfile). Clients cannot
tell the two apart.

Requests are checked on their declared sizes before anything is materialised, and the work in
flight is bounded (hse_tf.serving.limits). It binds loopback unless --host says otherwise (and
warns then), refuses a port another server holds (no SO_REUSEPORT), and offers TLS and a bearer
token; TF Serving itself leaves TLS termination and authentication to the deployment.
"""

if __name__ == "__main__":  # a command: hide TensorFlow's start-up lines (hse_tf.cli)
    from hse_tf import cli
    cli.quiet_tensorflow()

import concurrent.futures
import hmac
import logging

import grpc
import sys

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from hse_tf.serving.batching import (Batcher, BatchingParameters, QueueFull, batchable,
                                     call_signature)
from hse_tf.cli import is_loopback
from hse_tf.serving.limits import (MAX_MESSAGE, InflightBudget, LimitError, RequestLimits,
                                   max_message_bytes, request_bytes)
from hse_tf.serving.model_registry import ModelRegistry, NotFound



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
    """The request's inputs as numpy arrays for `fn`, after their names, dtypes and shapes are
    checked. Their declared sizes were checked before (limits.request_bytes, in Predict)."""
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
        if spec.dtype.is_floating and not np.all(np.isfinite(value)):
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input '{name}': NaN or Inf values")
        out[name] = value
    return out



class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry, batching=None, limits=RequestLimits()):
        self.registry = registry
        self.batcher = Batcher(batching) if batching is not None else None
        self.limits = limits
        self.budget = InflightBudget(limits.max_inflight_bytes)

    def _servable(self, spec):
        version = spec.version.value if spec.HasField("version") else None
        return self.registry.get(spec.name, version, spec.version_label or None)

    def Predict(self, request, context):
        try:
            cost = request_bytes(request.inputs, self.limits)
            self.budget.take(cost)
        except LimitError as e:
            context.abort(getattr(grpc.StatusCode, e.code_name), str(e))
        try:
            return self._predict(request, context)
        finally:
            self.budget.give(cost)

    def _predict(self, request, context):
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


class BearerToken(grpc.ServerInterceptor):
    """Every call needs the metadata `authorization: Bearer <token>` (UNAUTHENTICATED else)."""

    def __init__(self, token):
        self._want = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "missing or wrong bearer token (metadata 'authorization')")
        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, details):
        for key, value in details.invocation_metadata or ():
            if key == "authorization" and hmac.compare_digest(
                    value.encode() if isinstance(value, str) else value, self._want):
                return continuation(details)
        return self._deny


def read_secret(path, what):
    """The stripped text of a token or key file, with a one-line error naming it."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise ValueError(f"{path}: empty {what} file")
    return data


def check_tls_pair(cert, key):
    """ValueError naming the files unless `cert` is a PEM certificate (chain) and `key` its
    private key (gRPC would only fail to bind, which reads as a busy port)."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        raise ValueError(f"--ssl_cert {cert} / --ssl_key {key}: not a PEM certificate and its "
                         f"private key ({e.reason or e})") from None


def start_server(registry, port=0, host="127.0.0.1", workers=16, batching=None,
                 limits=RequestLimits(), credentials=None, token=None):
    """Starts serving `registry` on host:port (0 = any free port); returns (server, port,
    service), the service being the PredictionService (its batcher's counters, for tests).
    `batching`: a BatchingParameters to merge concurrent requests (TF Serving's
    --enable_batching), or None. `credentials`: grpc.ssl_server_credentials for TLS;
    `token`: a bearer token every call must carry. A port another process holds is refused
    (SO_REUSEPORT off) with OSError."""
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {port}")
    service = PredictionService(registry, batching, limits)
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers),
                         interceptors=[BearerToken(token)] if token else None,
                         options=[("grpc.max_receive_message_length",
                                   max_message_bytes(limits)),
                                  ("grpc.max_send_message_length", MAX_MESSAGE),
                                  ("grpc.so_reuseport", 0)],
                         maximum_concurrent_rpcs=limits.max_concurrent_rpcs)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        service, server)
    address = f"{host}:{port}"
    try:
        bound = (server.add_secure_port(address, credentials) if credentials is not None
                 else server.add_insecure_port(address))
    except RuntimeError:
        bound = 0
    if not bound:
        raise OSError(f"cannot bind {address}: in use by another process, or not an address "
                      f"of this machine")
    server.start()
    return server, bound, service


def main(argv):
    from absl import app, flags

    from hse_tf.cli import configure_cpu_threads
    f = flags.FLAGS
    configure_cpu_threads(f.cpu_threads)
    if f.model_config_file:
        registry = ModelRegistry.from_config(f.model_config_file, f.models_dir)
    elif f.models_dir:
        registry = ModelRegistry.from_dir(f.models_dir)
    else:
        raise app.UsageError("give --models_dir and/or --model_config_file")
    batching = None
    if f.enable_batching:
        batching = (BatchingParameters.from_file(f.batching_parameters_file)
                    if f.batching_parameters_file else BatchingParameters())
    if bool(f.ssl_cert) != bool(f.ssl_key):
        raise ValueError("--ssl_cert and --ssl_key go together")
    credentials = None
    if f.ssl_cert:
        check_tls_pair(f.ssl_cert, f.ssl_key)
        credentials = grpc.ssl_server_credentials(
            [(read_secret(f.ssl_key, "TLS key"), read_secret(f.ssl_cert, "TLS certificate"))])
    token = (read_secret(f.auth_token_file, "token").decode().strip()
             if f.auth_token_file else None)
    limits = RequestLimits(max_inflight_bytes=f.max_inflight_mb << 20,
                           max_concurrent_rpcs=f.max_concurrent_rpcs)
    if not is_loopback(f.host):
        print(f"warning: serving on {f.host}, reachable from other machines"
              f"{'' if credentials else ', without TLS'}"
              f"{'' if token else ', without authentication'}; --host 127.0.0.1 keeps it local",
              file=sys.stderr, flush=True)
    server, port, _ = start_server(registry, f.port, f.host, batching=batching, limits=limits,
                                credentials=credentials, token=token)
    for name, versions in registry.models.items():
        print(f"serving {name} versions {sorted(versions)}", flush=True)
    print(f"PredictionService (development stand-in for TF Serving) on {f.host}:{port}"
          f"{' (TLS)' if credentials else ''}{' (bearer token)' if token else ''}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    from absl import app, flags
    flags.DEFINE_string("models_dir", None, "Folder of <name>/<version>/saved_model.pb.")
    flags.DEFINE_string("model_config_file", None, "TF Serving models.config (model_config_list).")
    flags.DEFINE_integer("port", 8500, "gRPC port (TF Serving's default 8500; 0: any free one).",
                         lower_bound=0, upper_bound=65535)
    flags.DEFINE_string("host", "127.0.0.1", "Address to bind (loopback by default; another "
                        "address prints a warning).")
    flags.DEFINE_string("ssl_cert", None, "PEM certificate (chain): serve TLS (with --ssl_key).")
    flags.DEFINE_string("ssl_key", None, "PEM private key of --ssl_cert.")
    flags.DEFINE_string("auth_token_file", None, "A file holding a token: every call must send "
                        "the metadata 'authorization: Bearer <token>'.")
    flags.DEFINE_integer("max_inflight_mb", 1024, "Declared input MB of all requests in flight "
                         "together; beyond, RESOURCE_EXHAUSTED.", lower_bound=1)
    flags.DEFINE_integer("max_concurrent_rpcs", 64, "Calls served at once (gRPC answers "
                         "RESOURCE_EXHAUSTED beyond).", lower_bound=1)
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
