# TF Serving image with the exported HSE models (gRPC 8500, REST 8501).
#   python -m hse_tf.export --checkpoint runs/demo_hse --out models   # models/hse_{video,text}/1
#   docker build -t hse-serving .
#   docker run --rm -p 8500:8500 -p 8501:8501 hse-serving
#   python -m hse_tf.serving.client --server localhost:8500 text "a man is surfing on a wave."
# Official TF Serving builds include the ops the exported graphs use (tf.strings, lookup tables).
FROM tensorflow/serving:2.18.0

COPY models/ /models/
COPY serving/models.config serving/batching.config /config/

EXPOSE 8500 8501
ENTRYPOINT ["tensorflow_model_server", "--port=8500", "--rest_api_port=8501", \
            "--model_config_file=/config/models.config", \
            "--enable_batching", "--batching_parameters_file=/config/batching.config"]
