"""Feature stores for the released layouts, opened lazily and read one video at a time.

Reading per video (never the whole file) is what lets training stream from feature files larger
than memory. Every array leaves here validated: 2-D float32 [T, D], T > 0, the expected D, finite.
"""

import os

import h5py
import numpy as np

from hse_tf.data.atomic import atomic_path
from hse_tf.data.errors import DataError


class FeatureStore:
    """Base class: `get(video_id) -> float32 [T, D]`, `__contains__`, `keys()`, `dim`."""

    field = "features"

    def __init__(self, path, expected_dim=None):
        self.path = os.fspath(path)
        self.expected_dim = expected_dim

    def _raw(self, video_id):
        raise NotImplementedError

    def get(self, video_id):
        arr = self._raw(video_id)
        return self._validate(video_id, arr)

    def _validate(self, video_id, arr):
        arr = np.asarray(arr)
        if arr.ndim != 2:
            raise DataError(f"expected a 2-D [frames, dim] array, got shape {arr.shape}",
                            file=self.path, video=video_id, field=self.field)
        if arr.shape[0] == 0:
            raise DataError("no frames (length 0)", file=self.path, video=video_id, field=self.field)
        if self.expected_dim is not None and arr.shape[1] != self.expected_dim:
            raise DataError(f"feature dimension {arr.shape[1]}, but the model takes "
                            f"{self.expected_dim}-d features", file=self.path, video=video_id,
                            field=self.field)
        if not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"non-numeric dtype {arr.dtype}", file=self.path, video=video_id,
                            field=self.field)
        arr = arr.astype(np.float32, copy=False)
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DataError(f"{int(bad.sum())} NaN/Inf values (first at frame {row})",
                            file=self.path, video=video_id, field=self.field)
        return arr

    def close(self):
        pass


class HDF5Store(FeatureStore):
    """One HDF5 file; a video's array is `f[key_template.format(vid=...)]` (then `[field]`).

    - C3D (ActivityNet release): key '{vid}', field 'c3d_features'.
    - DiDeMo (HSE release): key '{vid}.npz', no field.
    - YouCook2 (later work): key '{vid}', no field.
    """

    def __init__(self, path, key_template="{vid}", field=None, expected_dim=None):
        super().__init__(path, expected_dim)
        self.key_template = key_template
        self.field = field or "features"
        self._subfield = field
        self._file = None
        if not os.path.exists(self.path):
            raise DataError("feature file does not exist", file=self.path)

    def _open(self):
        if self._file is None:
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as e:
                raise DataError(f"cannot open HDF5 file (truncated or corrupt?): {e}",
                                file=self.path) from None
        return self._file

    def key(self, video_id):
        return self.key_template.format(vid=video_id)

    def __contains__(self, video_id):
        f = self._open()
        key = self.key(video_id)
        if key not in f:
            return False
        return self._subfield is None or self._subfield in f[key]

    def keys(self):
        prefix, _, suffix = self.key_template.partition("{vid}")
        out = []
        for k in self._open().keys():
            if k.startswith(prefix) and k.endswith(suffix):
                out.append(k[len(prefix):len(k) - len(suffix)] if suffix else k[len(prefix):])
        return out

    def _raw(self, video_id):
        f = self._open()
        key = self.key(video_id)
        if key not in f:
            raise DataError(f"no entry '{key}' for this annotated video", file=self.path,
                            video=video_id, field=self.field)
        node = f[key]
        if self._subfield is not None:
            if not isinstance(node, h5py.Group) or self._subfield not in node:
                raise DataError(f"entry '{key}' has no dataset '{self._subfield}'",
                                file=self.path, video=video_id, field=self.field)
            node = node[self._subfield]
        if not isinstance(node, h5py.Dataset):
            raise DataError(f"entry '{key}' is not a dataset", file=self.path, video=video_id,
                            field=self.field)
        try:
            return node[()]
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read (truncated or corrupt?): {e}", file=self.path,
                            video=video_id, field=self.field) from None

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self):  # h5py handles do not pickle; reopen lazily in the new process.
        state = dict(self.__dict__)
        state["_file"] = None
        return state


class NpzFolderStore(FeatureStore):
    """A folder of `<vid>.npz` with key 'frame_scores' of shape (T, 1, D, 1, 1) (TSN Inception-V3)."""

    def __init__(self, path, key="frame_scores", expected_dim=None):
        super().__init__(path, expected_dim)
        self.key = key
        self.field = key
        if not os.path.isdir(self.path):
            raise DataError("feature folder does not exist", file=self.path)

    def _file_of(self, video_id):
        """<folder>/<id>.npz; an id that would name a file elsewhere (a path separator, '..',
        a NUL) is bad input, never a path."""
        vid = str(video_id)
        if vid in ("", ".", "..") or any(c in vid for c in "/\\\0"):
            raise DataError("video id is not a plain file name (path separators or '..'); "
                            "ids never name files outside the feature folder", file=self.path,
                            video=video_id, field="video_id")
        return os.path.join(self.path, f"{vid}.npz")

    def __contains__(self, video_id):
        try:
            return os.path.exists(self._file_of(video_id))
        except DataError:
            return False

    def keys(self):
        return sorted(n[:-4] for n in os.listdir(self.path) if n.endswith(".npz"))

    def _raw(self, video_id):
        fname = self._file_of(video_id)
        if not os.path.exists(fname):
            raise DataError("no feature file for this annotated video", file=fname, video=video_id,
                            field=self.key)
        try:
            with np.load(fname) as z:
                if self.key not in z:
                    raise DataError(f"npz has no key '{self.key}' (keys: {list(z.keys())})",
                                    file=fname, video=video_id, field=self.key)
                arr = z[self.key]
        except DataError:
            raise
        except Exception as e:  # zipfile.BadZipFile, EOFError, ValueError on truncation
            raise DataError(f"cannot read npz (truncated or corrupt?): {e}", file=fname,
                            video=video_id, field=self.key) from None
        if arr.ndim >= 2:
            arr = arr.reshape(arr.shape[0], -1)  # (T, 1, D, 1, 1) -> (T, D)
        return arr


class CachedStore:
    """Holds every validated array read from `store` in memory (`--cache_features`): the first
    epoch reads the file, later epochs and the validation passes do not. Use it when the
    features fit in memory; `cached_bytes` says how much they take."""

    def __init__(self, store):
        self.store = store
        self.path, self.field = store.path, store.field
        self._cache = {}
        self.cached_bytes = 0

    def get(self, video_id):
        arr = self._cache.get(video_id)
        if arr is None:
            arr = self.store.get(video_id)
            arr.flags.writeable = False  # shared by every reader
            self._cache[video_id] = arr
            self.cached_bytes += arr.nbytes
        return arr

    def __contains__(self, video_id):
        return video_id in self._cache or video_id in self.store

    def keys(self):
        return self.store.keys()

    def close(self):
        self.store.close()


# Layouts by name, so a config picks one with a flag instead of an if/else chain.
LAYOUTS = {
    "c3d_hdf5": lambda path, dim=None: HDF5Store(path, "{vid}", "c3d_features", dim),
    "inception_npz": lambda path, dim=None: NpzFolderStore(path, "frame_scores", dim),
    "didemo_hdf5": lambda path, dim=None: HDF5Store(path, "{vid}.npz", None, dim),
    "hdf5": lambda path, dim=None: HDF5Store(path, "{vid}", None, dim),
}


def open_features(layout, path, dim=None):
    if layout not in LAYOUTS:
        raise ValueError(f"unknown feature layout {layout!r}; choose from {sorted(LAYOUTS)}")
    return LAYOUTS[layout](path, dim)


def write_features(layout, path, features):
    """Writes {video_id: [T, D]} in a released layout (atomically). Used by the demo and tests.

    `features` is a mapping or an iterable of (video_id, array) pairs; pairs are consumed one at a
    time, so a generator writes a file larger than memory.
    """
    items = features.items() if hasattr(features, "items") else features
    if layout == "inception_npz":
        os.makedirs(path, exist_ok=True)
        for vid, arr in items:
            with atomic_path(os.path.join(path, f"{vid}.npz")) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, frame_scores=np.asarray(arr, np.float32)[:, None, :, None, None])
        return
    key_template, field = {
        "c3d_hdf5": ("{vid}", "c3d_features"),
        "didemo_hdf5": ("{vid}.npz", None),
        "hdf5": ("{vid}", None),
    }[layout]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for vid, arr in items:
                key = key_template.format(vid=vid)
                if field is None:
                    f.create_dataset(key, data=np.asarray(arr))
                else:
                    f.create_group(key).create_dataset(field, data=np.asarray(arr))
