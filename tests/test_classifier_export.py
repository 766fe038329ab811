"""hse_classifier SavedModel: parity with the Keras classifier on frozen embeddings."""

import numpy as np
import tensorflow as tf


def test_classifier_export_parity(trained_run, tiny_demo, tmp_path):
    from hse_tf.heads.jobs import load_classifier, train_classifier as train
    from hse_tf.data.annotations import read_tsp_labels
    from hse_tf.data.errors import IssueLog
    from hse_tf.data.features import open_features
    from hse_tf.training.runs import load_run
    from hse_tf.export import export_classifier
    from hse_tf.heads.whole_video import embed_whole_videos
    out = str(tmp_path / "mlp")
    train(trained_run, tiny_demo["labels_train"], None, tiny_demo["features"], out, hidden=16,
          epochs=3, log=lambda *_: None)
    clf, meta = load_classifier(out)
    _, _, model, _ = load_run(trained_run)
    path = export_classifier(model, clf, meta, str(tmp_path / "models"))
    store = open_features("c3d_hdf5", tiny_demo["features"])
    ids = sorted(read_tsp_labels(tiny_demo["labels_val"]))[:5]
    _, emb = embed_whole_videos(model, store, ids, IssueLog())
    want = tf.nn.softmax(clf(emb)).numpy()
    feats = [store.get(v) for v in ids]
    x = np.zeros((5, max(len(f) for f in feats), 8), np.float32)
    for i, f in enumerate(feats):
        x[i, :len(f)] = f
    sig = tf.saved_model.load(path).signatures["serving_default"]
    got = sig(features=tf.constant(x), feature_lengths=tf.constant([len(f) for f in feats],
                                                                   tf.int64))
    np.testing.assert_allclose(got["probabilities"], want, atol=1e-5)
    best = [meta["classes"][i] for i in want.argmax(1)]
    assert [c.decode() for c in got["top_classes"][:, 0].numpy()] == best
    assert got["top_classes"].shape == (5, min(5, len(meta["classes"])))
