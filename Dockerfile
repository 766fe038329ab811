# TF Serving image with the exported HSE models (gRPC 8500, REST 8501).
#   python -m hse_tf.export --checkpoint runs/demo_hse --out models   # models/hse_{video,text}/1
#   docker build -t hse-serving .
#   docker run --rm -p 8500:8500 -p 8501:8501 hse-serving
#   python -m hse_tf.serving.client --server localhost:8500 text "a man is surfing on a wave."
# Official TF Serving builds include the ops the exported graphs use (tf.strings, lookup tables).
# Use the TF Serving release that matches the TensorFlow that exported the models (2.21 here, as
# does tensorflow-serving-api 2.21 on PyPI); an older server may not know newer ops.
#   docker build --build-arg TF_SERVING_VERSION=2.21.0 -t hse-serving .
ARG TF_SERVING_VERSION=2.21.0
FROM tensorflow/serving:${TF_SERVING_VERSION}

COPY models/ /models/
COPY serving/models.config serving/batching.config /config/

EXPOSE 8500 8501
ENTRYPOINT ["tensorflow_model_server", "--port=8500", "--rest_api_port=8501", \
            "--model_config_file=/config/models.config", \
            "--enable_batching", "--batching_parameters_file=/config/batching.config"]
# Thread pools (model server flags --tensorflow_intra_op_parallelism / _inter_op_, "Auto-configured
# by default"): one thread per op and as many ops at once as cores (0 = auto) gave lower latency
# and higher throughput than the defaults in bench/serving_latency.py on 2 CPU cores (README).
# Arguments after the image name replace these, e.g. `docker run hse-serving
# --tensorflow_intra_op_parallelism=4 --tensorflow_inter_op_parallelism=8` on a big machine.
CMD ["--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=0"]
