"""Round trips for every feature layout, and clear errors on bad feature files."""

import h5py
import numpy as np
import pytest

from hse_tf.data.errors import DataError
from hse_tf.data.features import LAYOUTS, open_features, write_features


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_roundtrip(tmp_path, layout):
    rng = np.random.default_rng(0)
    feats = {"v_a": rng.normal(size=(7, 5)).astype(np.float32),
             "v_b": rng.normal(size=(3, 5)).astype(np.float32)}
    path = str(tmp_path / ("feats" if layout == "inception_npz" else "feats.h5"))
    write_features(layout, path, feats)
    store = open_features(layout, path, dim=5)
    assert sorted(store.keys()) == ["v_a", "v_b"]
    assert "v_a" in store and "v_zzz" not in store
    for vid, arr in feats.items():
        np.testing.assert_array_equal(store.get(vid), arr)


def test_released_layout_details(tmp_path):
    """C3D: f[vid]['c3d_features']; DiDeMo: f['<vid>.npz']; Inception: (T, 1, D, 1, 1)."""
    x = np.ones((4, 3), np.float32)
    write_features("c3d_hdf5", str(tmp_path / "c3d.h5"), {"v_x": x})
    with h5py.File(tmp_path / "c3d.h5") as f:
        assert f["v_x"]["c3d_features"].shape == (4, 3)
    write_features("didemo_hdf5", str(tmp_path / "d.h5"), {"abc": x})
    with h5py.File(tmp_path / "d.h5") as f:
        assert "abc.npz" in f
    write_features("inception_npz", str(tmp_path / "npz"), {"v_x": x})
    assert np.load(tmp_path / "npz" / "v_x.npz")["frame_scores"].shape == (4, 1, 3, 1, 1)


def _store(tmp_path, arr, layout="c3d_hdf5", dim=None):
    path = str(tmp_path / "f.h5")
    write_features(layout, path, {"v_1": arr})
    return open_features(layout, path, dim)


def test_missing_entry_names_file_video_field(tmp_path):
    store = _store(tmp_path, np.ones((3, 2), np.float32))
    with pytest.raises(DataError) as e:
        store.get("v_missing")
    assert e.value.video == "v_missing" and e.value.field == "c3d_features"
    assert "f.h5" in str(e.value) and "v_missing" in str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_rejected(tmp_path, bad):
    arr = np.ones((5, 2), np.float32)
    arr[3, 1] = bad
    with pytest.raises(DataError, match="NaN/Inf.*frame 3"):
        _store(tmp_path, arr).get("v_1")


def test_wrong_dimension(tmp_path):
    with pytest.raises(DataError, match="dimension 2, but the model takes 500-d"):
        _store(tmp_path, np.ones((5, 2), np.float32), dim=500).get("v_1")


def test_wrong_rank_and_empty(tmp_path):
    with pytest.raises(DataError, match="2-D"):
        _store(tmp_path, np.ones((5,), np.float32)).get("v_1")
    with pytest.raises(DataError, match="no frames"):
        _store(tmp_path, np.ones((0, 3), np.float32)).get("v_1")


def test_truncated_hdf5(tmp_path):
    path = tmp_path / "big.h5"
    write_features("c3d_hdf5", str(path), {f"v_{i}": np.ones((50, 20), np.float32)
                                           for i in range(20)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="truncated or corrupt") as e:
        store = open_features("c3d_hdf5", str(path))
        for i in range(20):
            store.get(f"v_{i}")
    assert "big.h5" in str(e.value)


def test_corrupt_npz(tmp_path):
    folder = tmp_path / "npz"
    write_features("inception_npz", str(folder), {"v_1": np.ones((4, 3), np.float32)})
    (folder / "v_1.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="v_1.npz.*truncated or corrupt"):
        open_features("inception_npz", str(folder)).get("v_1")


def test_missing_file():
    with pytest.raises(DataError, match="does not exist"):
        open_features("c3d_hdf5", "/nonexistent/feats.h5")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_write_from_generator(tmp_path, layout):
    # A generator of pairs is consumed lazily (how the benchmark writes files larger than memory).
    rng = np.random.default_rng(1)
    arrays = {f"v{i}": rng.normal(size=(i + 2, 4)).astype(np.float32) for i in range(3)}
    path = str(tmp_path / ("feats" if layout == "inception_npz" else "feats.h5"))
    write_features(layout, path, ((k, v) for k, v in arrays.items()))
    store = open_features(layout, path)
    for k, v in arrays.items():
        np.testing.assert_array_equal(store.get(k), v)
