"""gRPC client for the exported HSE models, with the standard tensorflow-serving-api stubs.

    python -m hse_tf.serving.client text --server localhost:8500 "a man surfs." "he falls."
    python -m hse_tf.serving.client video --server localhost:8500 --features c3d.hdf5 \
        --layout c3d_hdf5 --video_id v_abc --annotations val_1.json
    python -m hse_tf.serving.client metadata --server localhost:8500 --model hse_text

Works against TF Serving and the development stand-in (hse_tf.serving.server) alike; with
--ssl_ca over TLS, and with --auth_token_file sending `authorization: Bearer <token>`.
"""

if __name__ == "__main__":  # a command: hide TensorFlow's start-up lines (hse_tf.cli)
    from hse_tf import cli
    cli.quiet_tensorflow()

import json
import math
import sys

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from hse_tf.export.requests import text_request, video_request
from hse_tf.serving.limits import MAX_MESSAGE



class HSEClient:
    """Embeds paragraphs and videos through PredictionService.Predict."""

    def __init__(self, target="localhost:8500", timeout=60.0, text_model="hse_text",
                 video_model="hse_video", ssl_ca=None, token=None, ssl_target_name=None):
        """ssl_ca: PEM bytes of the CA (or the self-signed certificate) to trust: TLS;
        token: sent as `authorization: Bearer <token>` with every call."""
        options = [("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.max_send_message_length", MAX_MESSAGE)]
        if ssl_target_name:
            options.append(("grpc.ssl_target_name_override", ssl_target_name))
        if ssl_ca is not None:
            self.channel = grpc.secure_channel(
                target, grpc.ssl_channel_credentials(root_certificates=ssl_ca), options)
        else:
            self.channel = grpc.insecure_channel(target, options)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.target = target
        self.timeout, self.text_model, self.video_model = timeout, text_model, video_model
        self._call_metadata = (("authorization", f"Bearer {token}"),) if token else None

    def close(self):
        self.channel.close()

    def predict(self, model, inputs, signature="serving_default", version=None,
                output_filter=()):
        """Raw Predict: {name: array} in, {name: numpy array} out. Raises grpc.RpcError."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(
                value if isinstance(value, tensor_pb2.TensorProto)
                else tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        response = self.stub.Predict(request, timeout=self.timeout, metadata=self._call_metadata)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def embed_paragraphs(self, paragraphs, version=None):
        """paragraphs: list of lists of sentences -> {'paragraph' [B, H], 'sentences' [list of
        [S_i, H]] (hierarchical models), 'unknown_counts' [list of [S_i]]}."""
        request = text_request(paragraphs)
        out = self.predict(self.text_model, request, version=version)
        counts = request["sentence_counts"]
        return _unpad(out, counts, ("sentences", "token_counts", "unknown_counts"))

    def embed_videos(self, features, clip_times, durations, version=None):
        """features: list of [T_i, D] arrays; clip_times: list of [(start, end)] seconds;
        durations: seconds per video -> {'video' [B, H], 'clips' [list of [C_i, H]]}."""
        request = video_request(features, clip_times, durations)
        out = self.predict(self.video_model, request, version=version)
        counts = request["clip_counts"]
        return _unpad(out, counts, ("clips",))

    def metadata(self, model, version=None):
        """{signature: {'inputs': {name: (dtype, shape)}, 'outputs': {...}}} via GetModelMetadata."""
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        request.metadata_field.append("signature_def")
        response = self.stub.GetModelMetadata(request, timeout=self.timeout,
                                              metadata=self._call_metadata)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)

        def describe(infos):
            return {k: (tf.dtypes.as_dtype(v.dtype).name,
                        [d.size for d in v.tensor_shape.dim]) for k, v in infos.items()}
        return {name: {"inputs": describe(s.inputs), "outputs": describe(s.outputs)}
                for name, s in sig_map.signature_def.items()}


def _unpad(out, counts, per_item):
    result = {}
    for k, v in out.items():
        result[k] = [v[i, :c] for i, c in enumerate(counts)] if k in per_item else v
    return result


def _text(args, client):
    out = client.embed_paragraphs([args.sentences])
    unknown = int(sum(out["unknown_counts"][0]))
    tokens = int(sum(out["token_counts"][0]))
    if unknown:
        print(f"warning: {unknown} of {tokens} words are not in the model's vocabulary",
              file=sys.stderr)
    return {"paragraph": out["paragraph"][0].tolist(),
            "sentences": out["sentences"][0].tolist() if "sentences" in out else None,
            "unknown_words": unknown, "words": tokens}


def _video(args, client):
    from hse_tf.data.annotations import load_json
    from hse_tf.data.errors import DataError
    from hse_tf.data.features import open_features
    feats = open_features(args.layout, args.features).get(args.video_id)
    if args.annotations:
        ann = load_json(args.annotations)
        if not isinstance(ann, dict) or args.video_id not in ann:
            raise DataError("no such video", file=args.annotations, video=args.video_id)
        entry = ann[args.video_id]
        try:
            times = np.asarray(entry["timestamps"], np.float64).reshape(-1, 2)
            duration = float(entry["duration"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"needs 'timestamps' [[start, end], ...] and 'duration' in seconds "
                            f"({type(e).__name__}: {e})", file=args.annotations,
                            video=args.video_id, field="timestamps") from None
        if not np.all(np.isfinite(times)) or not math.isfinite(duration):
            raise DataError("NaN or Inf times", file=args.annotations, video=args.video_id,
                            field="timestamps")
        times = times.tolist()
    else:
        if not args.clip_times or args.duration is None:
            raise ValueError("give --annotations, or --clip_times and --duration")
        from hse_tf.cli import parse_clip_times
        times = parse_clip_times(args.clip_times)
        duration = args.duration
        if not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"--duration must be a finite number > 0, got {duration}")
    out = client.embed_videos([feats], [times], [duration])
    return {"video": out["video"][0].tolist(),
            "clips": out["clips"][0].tolist() if "clips" in out else None}


def main(argv=None):
    from hse_tf import cli
    p = cli.argument_parser("hse_tf.serving.client",
                            description="Embed text or videos through TF Serving (gRPC).")
    p.add_argument("--server", default="localhost:8500")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--ssl_ca", help="PEM file of the CA (or self-signed certificate) to trust: "
                   "connect with TLS")
    p.add_argument("--auth_token_file", help="send 'authorization: Bearer <this file's token>'")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("text", help="embed one paragraph (one argument per sentence)")
    t.add_argument("sentences", nargs="+")
    v = sub.add_parser("video", help="embed one video from a feature file")
    v.add_argument("--features", required=True)
    v.add_argument("--layout", default="c3d_hdf5")
    v.add_argument("--video_id", required=True)
    v.add_argument("--annotations", help="ActivityNet-style JSON giving timestamps and duration")
    v.add_argument("--clip_times", help="start:end seconds, comma separated")
    v.add_argument("--duration", type=float)
    m = sub.add_parser("metadata", help="signatures of a served model")
    m.add_argument("--model", default="hse_text")
    args = cli.parse(p, argv)
    from hse_tf.serving.server import read_secret
    client = HSEClient(args.server, args.timeout,
                       ssl_ca=read_secret(args.ssl_ca, "CA") if args.ssl_ca else None,
                       token=read_secret(args.auth_token_file, "token").decode().strip()
                       if args.auth_token_file else None)
    try:
        if args.command == "metadata":
            result = client.metadata(args.model)
        else:
            result = (_text if args.command == "text" else _video)(args, client)
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 2
    finally:
        client.close()
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    from hse_tf import cli
    cli.run_absl(main, parsed_by_main=True)
