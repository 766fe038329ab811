"""The GPU path: cuDNN kernels, GPU/CPU agreement, mixed precision. Skipped without a GPU.

Run on a GPU machine with `python -m pytest -q tests/test_gpu.py`.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import random_batch, tiny_config

GPUS = tf.config.list_physical_devices("GPU")
pytestmark = pytest.mark.skipif(not GPUS, reason="no GPU visible to TensorFlow "
                                                 "(tf.config.list_physical_devices('GPU') is empty)")


def _model(mixed_precision="none", hidden=32):
    from hse_tf.training.runs import model_from_config
    import keras
    keras.utils.set_random_seed(0)
    return model_from_config({"model": "hse", "hidden": hidden}, 6, 20, 8, mixed_precision)


def _ops(concrete):
    """Every op type in a traced function, nested functions (while bodies, GRU kernels)
    included."""
    graph_def = concrete.graph.as_graph_def()
    ops = {n.op for n in graph_def.node}
    for f in graph_def.library.function:
        ops.update(n.op for n in f.node_def)
    return ops


def test_encoders_run_the_cudnn_gru_kernel():
    model = _model()
    model.compile(optimizer="adam")
    batch = {k: tf.constant(v) for k, v in random_batch(np.random.default_rng(0)).items()}
    with tf.device("/GPU:0"):
        step = tf.function(model.train_step).get_concrete_function(batch)
    ops = _ops(step)
    assert any(op.startswith("CudnnRNN") for op in ops), sorted(o for o in ops if "RNN" in o)


def test_gpu_and_cpu_agree_on_embeddings_and_losses():
    tf.config.experimental.enable_tensor_float_32_execution(False)  # TF32 would round matmuls
    try:
        model = _model()
        batch = {k: tf.constant(v) for k, v in random_batch(np.random.default_rng(1)).items()}
        out = {}
        for device in ("/CPU:0", "/GPU:0"):
            with tf.device(device):
                emb = model(batch)
                terms = model.loss_terms(batch)
            out[device] = ({k: v.numpy() for k, v in emb.items()},
                           {k: float(v) for k, v in terms.items()})
        (e_cpu, t_cpu), (e_gpu, t_gpu) = out["/CPU:0"], out["/GPU:0"]
        for k in e_cpu:
            np.testing.assert_allclose(e_gpu[k], e_cpu[k], atol=1e-4, err_msg=k)
        for k in t_cpu:
            assert t_gpu[k] == pytest.approx(t_cpu[k], rel=1e-3, abs=1e-5), k
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(True)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains_on_gpu(tiny_demo, tmp_path, precision):
    from hse_tf.training import train
    run = str(tmp_path / "run")
    results = train(tiny_config(tiny_demo, run, epochs=2, mixed_precision=precision), run,
                    verbose=0, projector_max=0)
    assert np.isfinite(results["p2v"]["MR"])
    model = _model(precision)
    assert model.video_tower.compute_dtype == precision
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    terms = model.loss_terms({k: tf.constant(v) for k, v in random_batch(
        np.random.default_rng(2)).items()})
    assert all(t.dtype == tf.float32 for t in terms.values())
