"""A searchable set of L2-normalised embeddings with ids: exact or faiss (IVF / HNSW).

On disk (a folder, written atomically; hse_tf.data.outputs says when one may be replaced):
  index.json      kind, dim, count, parameters, model, extra metadata, and the sha256 of each
                  of the files below (`load` checks those it reads whole, `verify` all)
  ids.json        the id of each row (a video id, or {"video", "start", "end"} for clips)
  embeddings.npy  [N, D] float32 (exact search; also kept for approximate indices so they can
                  be rebuilt with other parameters without re-embedding)
  faiss.index     the faiss index (ivf / ivfpq / hnsw only)
Cosine similarity = inner product, since every row and query is L2-normalised.

Kinds (bench/search.py measured the defaults; see the README's search table):
  exact  a matrix product over all rows; 'auto' up to 50,000 rows.
  ivfpq  'auto' beyond: faiss IVF with product-quantised codes (64 bytes per 1024-d row instead
         of 4,096) finds a shortlist of `rerank` rows, which are then scored exactly against the
         float32 embeddings, so the returned scores are true cosines. A loaded ivfpq index
         memory-maps embeddings.npy: only the shortlisted rows are read, so its own memory is
         the codes, not the vectors.
  ivf    IVF-Flat (full vectors in faiss); hnsw  HNSW-Flat.
"""

import json
import math
import os

import numpy as np

from hse_tf.data.fingerprint import sha256_file
from hse_tf.data.outputs import owned_dir

KINDS = ("auto", "exact", "ivf", "ivfpq", "hnsw")
# index.json's "format": 2 since every index records the sha256 of its files; an index without
# the field predates it (format 1, before checksums or just after) and may lack them. From
# format 2 on, a missing or empty checksum list is an error, not a reason to check nothing.
FORMAT = 2
EXACT_MAX = 50_000  # 'auto' uses exact search up to this many rows, IVF-PQ + re-rank beyond
PQ_MIN_ROWS = 10_000  # product quantisation trains 256 centroids per sub-vector


class IndexFileError(ValueError):
    """A missing, corrupt or incompatible index (names the file)."""


def default_params(kind, n):
    """Default faiss parameters for `n` rows (bench/search.py measures their recall@10)."""
    # sqrt(n) lists keeps k-means training affordable on CPU; faiss wants >= 39 rows per list.
    nlist = int(max(1, min(round(math.sqrt(n)), n // 39)))
    if kind == "ivf":
        return {"nlist": nlist, "nprobe": int(min(nlist, max(16, nlist // 16)))}
    if kind == "ivfpq":
        return {"nlist": nlist, "nprobe": int(min(nlist, 16)), "pq_m": 64, "rerank": 200}
    if kind == "hnsw":
        return {"m": 32, "ef_construction": 80, "ef_search": 128}
    return {}


# Each faiss parameter, its command-line flag and its range ((low, high): high None = no bound,
# a string = another parameter's value).
PARAM_RANGES = {"nlist": ("--nlist", 1, "rows"), "nprobe": ("--nprobe", 1, "nlist"),
                "pq_m": ("--pq_m", 1, None), "rerank": ("--rerank", 1, 100_000),
                "m": ("--hnsw_m", 2, 512), "ef_construction": ("--ef_construction", 1, 100_000),
                "ef_search": ("--ef_search", 1, 100_000)}


def check_params(kind, params, n):
    """ValueError naming the flag of a faiss parameter out of its range for `kind` and `n` rows
    (faiss itself aborts the process on some, e.g. an HNSW m of 0)."""
    wanted = set(default_params(kind, max(n, 1)))
    for name, value in params.items():
        if name not in PARAM_RANGES:
            raise ValueError(f"unknown index parameter {name!r}")
        flag, low, high = PARAM_RANGES[name]
        if name not in wanted:
            raise ValueError(f"{flag} does not apply to a {kind} index")
        limit = {"rows": n, "nlist": params.get("nlist")}.get(high, high)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
                limit is not None and value > limit):
            bound = f" and <= {limit}" + (f" ({high})" if isinstance(high, str) else "")
            raise ValueError(f"{flag} must be an integer >= {low}"
                             f"{bound if limit is not None else ''}, got {value!r}")


def _pq_m(dim, wanted):
    """The largest number of sub-quantisers <= wanted that divides dim."""
    return max(m for m in range(1, min(wanted, dim) + 1) if dim % m == 0)


def _normalise(x, what):
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what}: expected a [N, D] matrix, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: NaN or Inf values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{what}: a zero vector cannot be normalised")
    return x / norms


class GalleryIndex:
    def __init__(self, ids, embeddings, kind="auto", params=None, metadata=None):
        self.ids = list(ids)
        self.embeddings = _normalise(embeddings, "embeddings")
        if len(self.ids) != len(self.embeddings):
            raise ValueError(f"{len(self.ids)} ids for {len(self.embeddings)} embeddings")
        if kind not in KINDS:
            raise ValueError(f"unknown index kind {kind!r}; choose from {KINDS}")
        n = len(self.ids)
        self.kind = kind if kind != "auto" else ("exact" if n <= EXACT_MAX else "ivfpq")
        self.params = {**default_params(self.kind, n), **(params or {})}
        if self.kind != "exact":
            check_params(self.kind, self.params, n)
        if self.kind == "ivfpq":
            if n < PQ_MIN_ROWS:
                raise ValueError(f"kind 'ivfpq' needs at least {PQ_MIN_ROWS:,} rows to train "
                                 f"its codes, got {n:,}; use 'exact'")
            self.params["pq_m"] = _pq_m(self.dim, int(self.params["pq_m"]))
        self.metadata = dict(metadata or {})
        self.faiss_index = self._build() if self.kind != "exact" else None

    @property
    def dim(self):
        return self.embeddings.shape[1]

    def __len__(self):
        return len(self.ids)

    def _build(self):
        import faiss
        d, p = self.dim, self.params
        if self.kind in ("ivf", "ivfpq"):
            quantizer, nlist = faiss.IndexFlatIP(d), int(p["nlist"])
            if self.kind == "ivf":
                index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
                sample = 64 * nlist  # k-means: faiss wants 39-256 rows per list
            else:
                index = faiss.IndexIVFPQ(quantizer, d, nlist, int(p["pq_m"]), 8,
                                         faiss.METRIC_INNER_PRODUCT)
                sample = max(64 * nlist, PQ_MIN_ROWS)  # and >= 39 x 256 for the codes
            train = self.embeddings
            if len(train) > sample:  # train on a seeded sample
                rows = np.random.default_rng(0).choice(len(train), sample, replace=False)
                train = train[np.sort(rows)]
            index.train(np.ascontiguousarray(train))
            for s in range(0, len(self.embeddings), 100_000):  # bounded temporary copies
                index.add(np.ascontiguousarray(self.embeddings[s:s + 100_000]))
        else:
            index = faiss.IndexHNSWFlat(d, int(p["m"]), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(p["ef_construction"])
            index.add(self.embeddings)
        self._set_search_params(index)
        return index

    def _set_search_params(self, index):
        if self.kind in ("ivf", "ivfpq"):
            index.nprobe = int(self.params["nprobe"])
        elif self.kind == "hnsw":
            index.hnsw.efSearch = int(self.params["ef_search"])

    def search(self, queries, k=10):
        """queries [Q, D] -> (scores [Q, k'], rows [Q, k']) with k' = min(k, N), best first."""
        q = _normalise(np.atleast_2d(queries), "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"query dimension {q.shape[1]} does not match the index's "
                             f"{self.dim} (built with model {self.metadata.get('model', '?')})")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        k = min(int(k), len(self))
        if self.faiss_index is None:
            # Queries in chunks, so the similarity block stays ~256 MB however large the index.
            step = max(1, 2**26 // len(self))
            parts = [self._exact(q[i:i + step], k) for i in range(0, len(q), step)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if self.kind == "ivfpq":
            return self._rerank(q, k)
        scores, rows = self.faiss_index.search(q, k)
        return scores, rows

    def _rerank(self, q, k):
        """Shortlist from the codes, then exact cosines from the float32 rows, best first."""
        short = max(k, int(self.params.get("rerank", 200)))
        _, cand = self.faiss_index.search(q, short)
        scores = np.full((len(q), k), -np.inf, np.float32)
        rows = np.full((len(q), k), -1, np.int64)
        for i in range(len(q)):
            c = cand[i][cand[i] >= 0]
            c.sort()  # row order: sequential reads of the memory-mapped file, stable ties
            sims = np.asarray(self.embeddings[c]) @ q[i]
            top = np.argsort(-sims, kind="stable")[:k]
            scores[i, :len(top)], rows[i, :len(top)] = sims[top], c[top]
        return scores, rows

    def _exact(self, q, k):
        sims = q @ self.embeddings.T
        if k < sims.shape[1]:  # top-k candidates first, then a stable sort among them
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            part.sort(axis=1)  # row order, so that ties keep it after the stable sort
        else:
            part = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1, kind="stable")
        rows = np.take_along_axis(part, order, 1)
        return np.take_along_axis(sims, rows, 1), rows

    def save(self, path, overwrite=False):
        """Writes the index to the folder `path`, atomically. An existing folder is replaced only
        when it is an index folder and `overwrite` is set (hse_tf.data.outputs)."""
        from hse_tf.index.ownership import index_kind
        kind = index_kind(self.metadata.get("content", "videos"))
        with owned_dir(path, kind, overwrite) as tmp:
            self.write(tmp)
        return path

    def write(self, folder):
        """Writes the index files into an existing (new) folder, with a sha256 of each file in
        index.json (checked by load and verify)."""
        files = {"embeddings.npy": lambda f: np.save(f, self.embeddings),
                 "ids.json": lambda f: f.write(json.dumps(self.ids).encode())}
        if self.faiss_index is not None:
            import faiss
            files["faiss.index"] = lambda f: f.write(
                faiss.serialize_index(self.faiss_index).tobytes())
        checksums = {}
        for name, write in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                write(f)
            checksums[name] = sha256_file(os.path.join(folder, name))
        with open(os.path.join(folder, "index.json"), "w") as f:
            json.dump({"kind": self.kind, "dim": self.dim, "count": len(self),
                       "params": self.params, **self.metadata, "format": FORMAT,
                       "checksums": checksums}, f, indent=1)

    @classmethod
    def load(cls, path):
        """Loads an index folder. Checks every file's shape and dtype; the sha256 of every file
        read whole (ids.json, faiss.index and, except for a memory-mapped ivfpq index,
        embeddings.npy) against index.json; and that the loaded vectors are finite. A
        memory-mapped embeddings.npy is not read here (only its shortlisted rows are, per
        query): `verify` checks it in full. Indices written before checksums load unchecked."""
        meta_path = os.path.join(path, "index.json")
        if not os.path.isdir(path) or not os.path.exists(meta_path):
            raise IndexFileError(f"{meta_path}: no index here (build one with "
                                 f"'python -m hse_tf.index build')")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            kind, dim, count = meta.pop("kind"), meta.pop("dim"), meta.pop("count")
            params = meta.pop("params")
            if kind not in KINDS or not isinstance(count, int) or not isinstance(dim, int):
                raise ValueError(f"kind {kind!r}, count {count!r}, dim {dim!r}")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise IndexFileError(f"{meta_path}: corrupt index metadata ({e})") from None
        checksums = _checksums(meta_path, meta.pop("format", 1), meta.pop("checksums", None))
        mapped = kind == "ivfpq"  # reads only the shortlisted rows: map the file
        for name in ("ids.json", "faiss.index") + (() if mapped else ("embeddings.npy",)):
            _check_sum(path, name, checksums)
        try:
            with open(os.path.join(path, "ids.json")) as f:
                ids = json.load(f)
        except (OSError, ValueError) as e:
            raise IndexFileError(f"{os.path.join(path, 'ids.json')}: cannot read ({e})") from None
        emb_path = os.path.join(path, "embeddings.npy")
        try:
            emb = np.load(emb_path, mmap_mode="r" if mapped else None)
        except (OSError, ValueError) as e:
            raise IndexFileError(f"{emb_path}: cannot read ({e})") from None
        if emb.shape != (count, dim) or len(ids) != count:
            raise IndexFileError(f"{path}: index.json says {count} x {dim}, found embeddings "
                                 f"{emb.shape} and {len(ids)} ids")
        index = cls.__new__(cls)
        if emb.dtype != np.float32:
            raise IndexFileError(f"{emb_path}: dtype {emb.dtype}, expected float32")
        if not mapped and not np.all(np.isfinite(emb)):
            raise IndexFileError(f"{emb_path}: NaN or Inf values")
        index.ids, index.embeddings, index.kind = ids, emb, kind
        index.params, index.metadata, index.faiss_index = params, meta, None
        if kind != "exact":
            import faiss
            fpath = os.path.join(path, "faiss.index")
            try:
                index.faiss_index = faiss.read_index(fpath)
            except RuntimeError as e:
                raise IndexFileError(f"{fpath}: cannot read faiss index "
                                     f"({str(e).splitlines()[0]})") from None
            if index.faiss_index.ntotal != count or index.faiss_index.d != dim:
                raise IndexFileError(f"{fpath}: holds {index.faiss_index.ntotal} x "
                                     f"{index.faiss_index.d}, expected {count} x {dim}")
            index._set_search_params(index.faiss_index)
        return index


def _checksums(meta_path, version, checksums):
    """The checksum list of index.json: required from format 2 on (see FORMAT)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise IndexFileError(f"{meta_path}: corrupt index metadata (format {version!r})")
    if version > FORMAT:
        raise IndexFileError(f"{meta_path}: index format {version} is newer than this hse_tf "
                             f"reads ({FORMAT}); upgrade hse_tf")
    if version >= 2 and (not isinstance(checksums, dict) or "ids.json" not in checksums
                         or "embeddings.npy" not in checksums):
        raise IndexFileError(f"{meta_path}: the checksum list (field checksums) is missing or "
                             f"incomplete; the index cannot be checked: rebuild it")
    if checksums is not None and not isinstance(checksums, dict):
        raise IndexFileError(f"{meta_path}: corrupt index metadata (checksums)")
    return checksums or {}


def _check_sum(path, name, checksums):
    """Compares a file's sha256 with the one index.json recorded (when it recorded one)."""
    want = checksums.get(name)
    file = os.path.join(path, name)
    if want is None:
        return
    if not os.path.exists(file):
        raise IndexFileError(f"{file}: missing (index.json lists it)")
    if sha256_file(file) != want:
        raise IndexFileError(f"{file}: checksum mismatch (the file changed or is corrupt since "
                             f"the index was built); rebuild the index")


def verify(path, index=None):
    """Checks an index folder in full: loads it (shapes, dtypes, small files' checksums; or
    takes `index`, GalleryIndex.load(path) already done), then every file's sha256, and every
    row finite and of unit length (read in blocks, so a memory-mapped file of any size is
    checked in bounded memory). Returns a summary dict; raises IndexFileError naming the first
    bad file."""
    index = index if index is not None else GalleryIndex.load(path)
    with open(os.path.join(path, "index.json")) as f:
        checksums = json.load(f).get("checksums") or {}
    if index.kind != "exact" and "faiss.index" not in checksums and checksums:
        raise IndexFileError(f"{os.path.join(path, 'index.json')}: faiss.index has no checksum")
    for name in sorted(checksums):
        _check_sum(path, name, checksums)
    emb_path = os.path.join(path, "embeddings.npy")
    for s in range(0, len(index), 65_536):
        block = np.asarray(index.embeddings[s:s + 65_536])
        if not np.all(np.isfinite(block)):
            raise IndexFileError(f"{emb_path}: NaN or Inf values in rows {s}-{s + len(block) - 1}")
        norms = np.linalg.norm(block, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1) > 1e-3)
        if len(bad):
            raise IndexFileError(f"{emb_path}: row {s + int(bad[0])} is not unit length "
                                 f"(norm {norms[bad[0]]:.4f})")
    return {"path": path, "rows": len(index), "dim": index.dim, "kind": index.kind,
            "checksummed": sorted(checksums)}

