"""Exact k nearest neighbours over shards on Dask (``pip install dask distributed``).

The result is identical, indices and distances bit for bit, to ``imanifold.NearestNeighbors(k).fit(R).kneighbors(Q)``
on the concatenated rows (``imanifold neighbors`` on one machine): every (query block × reference shard) task runs
the Rust engine's exact top-k and also returns the engine's exact f64 squared distances, the values it orders
candidates by; a tree reduction merges the partial lists by (squared distance, global index), the engine's tie rule.

The per-task function :func:`shard_topk` and the reduction :func:`merge_topk` are plain functions of numpy arrays
with no Dask in them: another engine (Ray, Spark) maps the first over the task grid and folds the second.

:func:`dimension` runs the intrinsic-dimension estimators on the gathered neighbour table, and global PCA from
block moments (column sums, scatter matrices) reduced by a tree: the same values as ``imanifold.id.estimate`` in one
process.

:func:`score` computes the off-manifold scores of ``imanifold.score`` (``knn``, ``tangent``, ``lid``) with the
reference's calibration computed once and the queries scored by block: the same values bit for bit.

Inputs are .npy files, directories of them, dask arrays, numpy arrays, or image folders (:func:`image_folder`:
file ranges decoded by the library's loader, one task per range). :func:`render` renders an image set by index
ranges into the folder ``imanifold render`` writes.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _imanifold
from ._util import input_options

#: Fewest rows of a query block (one task's queries) when ``query_block=None`` …
DEFAULT_QUERY_BLOCK = 4096
#: … which otherwise takes as many rows as fit in this many bytes of float32: large tasks repeat the per-shard
#: preparation of the engine's search (centring, principal basis, plan) fewer times.
QUERY_BLOCK_BYTES = 64 << 20
#: Rows of a reference shard cut from an in-memory numpy array (files and dask chunks keep their own sizes).
DEFAULT_SHARD_ROWS = 65536
#: Partial lists merged by one reduction task.
DEFAULT_SPLIT_EVERY = 8

_SENTINEL = np.iinfo(np.int64).max

# A partial top-k list: (squared distances f64, global indices int64, distances f32), each n_query × width, rows
# sorted by (squared distance, index); padding entries are (+inf, int64 max, +inf).
Part = Tuple[np.ndarray, np.ndarray, np.ndarray]


def _require_dask():
    try:
        import dask  # noqa: F401
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"imanifold.dask needs Dask: pip install dask distributed ({e})") from e


# ---------------------------------------------------------------------------------------------- engine-agnostic part


def _native(a, dtype=None) -> np.ndarray:
    """``a`` as the Rust kernels take it: C-contiguous and aligned. Arrays that come out of Dask's serialisation
    between worker processes can be views at unaligned offsets of a message buffer, which the bindings refuse."""
    return np.require(a, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def load_source(src) -> np.ndarray:
    """A shard's rows as a C-contiguous float32 matrix: ``src`` is an array, or ``("npy", path, start, stop)``
    (the file memory-mapped, only rows ``start:stop`` read)."""
    if isinstance(src, tuple) and src and src[0] == "npy":
        _, path, a, b = src
        m = np.load(path, mmap_mode="r")
        m = m.reshape(m.shape[0], -1)[a:b]
    else:
        m = np.asarray(src)
        m = m.reshape(m.shape[0], -1)
    return _native(m, np.float32)


def _describe(src, start: Optional[int]) -> str:
    if isinstance(src, tuple) and src and src[0] == "npy":
        return f"{src[1]} rows {src[2]}:{src[3]}"
    return "rows from global row " + ("?" if start is None else str(start))


def shard_topk(query, reference, k: int, offset: int, query_start: Optional[int] = None,
               strategy: str = "auto", threads: Optional[int] = None) -> Part:
    """Exact top-``k`` of ``query`` rows among the ``reference`` shard whose first row has global index ``offset``.

    ``query_start``: self mode, the global index of the first query row (a query row never lists itself).
    Returns a :data:`Part`; a row lists ``min(k, available)`` candidates, padded to the widest row.
    """
    q, r = load_source(query), load_source(reference)
    nq, n = q.shape[0], r.shape[0]
    own = None
    if query_start is not None:
        g = query_start + np.arange(nq, dtype=np.int64)
        if np.any((g >= offset) & (g < offset + n)):
            own = g
    kk = min(k + (own is not None), n)
    try:
        dist, ind = _imanifold.kneighbors(r, q, kk, strategy=strategy, threads=threads)
    except ValueError as e:  # the engine's row numbers are local to the task: say where they are
        raise ValueError(f"reference {_describe(reference, offset)}, query {_describe(query, query_start)}: {e}"
                         ) from e
    sq = _imanifold.exact_sq_distances(r, q, _native(ind), threads=threads)
    ind = ind + np.int64(offset)
    if own is None:
        return sq, ind, dist
    keep = ind != own[:, None]
    keep &= np.cumsum(keep, axis=1) <= k
    width = int(keep.sum(axis=1).max())
    order = np.argsort(~keep, axis=1, kind="stable")[:, :width]  # kept entries first, in their order
    kept = np.take_along_axis(keep, order, axis=1)
    pick = lambda a, pad: np.where(kept, np.take_along_axis(a, order, axis=1), pad)  # noqa: E731
    return pick(sq, np.inf), pick(ind, _SENTINEL), pick(dist, np.float32(np.inf)).astype(np.float32)


def merge_topk(parts: Sequence[Part], k: int) -> Part:
    """The ``k`` best of several partial lists of the same queries, ordered by (squared distance, index)."""
    sq = np.concatenate([p[0] for p in parts], axis=1)
    ind = np.concatenate([p[1] for p in parts], axis=1)
    dist = np.concatenate([p[2] for p in parts], axis=1)
    order = np.lexsort((ind, sq), axis=1)[:, :k]
    return (np.take_along_axis(sq, order, axis=1), np.take_along_axis(ind, order, axis=1),
            np.take_along_axis(dist, order, axis=1))


def finish(part: Part, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(distances float32, indices int64) of a fully merged list."""
    sq, ind, dist = part
    if ind.shape[1] < k or np.any(ind[:, :k] == _SENTINEL):
        raise RuntimeError("a merged neighbour list is short: a shard was lost")
    return np.ascontiguousarray(dist[:, :k]), np.ascontiguousarray(ind[:, :k])


# ----------------------------------------------------------------------------------------------------- inputs


def _npy_files(x) -> Optional[List[pathlib.Path]]:
    if isinstance(x, (str, os.PathLike)):
        p = pathlib.Path(x)
        if p.is_dir():
            files = sorted(p.glob("*.npy"))
            if not files:
                raise ValueError(f"{p}: no .npy files (and no images) in this directory")
            return files
        return [p]
    if isinstance(x, (list, tuple)) and x and all(isinstance(e, (str, os.PathLike)) for e in x):
        return [pathlib.Path(e) for e in x]
    return None


#: Images per shard of an image folder unless ``shard_rows=`` says otherwise.
DEFAULT_IMAGE_SHARD = 8192


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _is_image_folder(x) -> bool:
    """A folder read as images: one with a ``manifest.csv`` (as :func:`imanifold.load` reads it), or with image
    files and no .npy files."""
    if not isinstance(x, (str, os.PathLike)) or not os.path.isdir(x):
        return False
    p = pathlib.Path(x)
    if (p / "manifest.csv").is_file():
        return True
    names = [e.name.lower() for e in os.scandir(p)]
    return not any(n.endswith(".npy") for n in names) and any(n.endswith(_IMAGE_SUFFIXES) for n in names)


def load_images(files: Sequence[str], spec: dict, threads: Optional[int] = None) -> np.ndarray:
    """The rows of ``files`` (a range of an image folder's files) decoded by the library's loader with the folder's
    ``spec`` (how its first image fixes channels and size): the rows :func:`imanifold.load` gives for them."""
    return _imanifold.load_image_files(list(files), spec["first"], tuple(spec["first_size"]),
                                       spec["first_bytes_per_pixel"], spec["channels"],
                                       resize=None if spec["resize"] is None else tuple(spec["resize"]),
                                       threads=threads)


def image_folder(path, shard_rows: int = DEFAULT_IMAGE_SHARD, gray: bool = False, rgb: bool = False,
                 resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None,
                 sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
                 threads: Optional[int] = None):
    """An image folder as an n × d float32 ``dask.array``: one chunk per range of ``shard_rows`` files, each decoded
    by one task that reads only its files.

    ``path`` and the options are those of :func:`imanifold.load` (and of ``imanifold dim/neighbors/score``): the
    rows, their order (file names sorted, or the ``manifest.csv`` order) and their values are those it gives; the
    folder's first image fixes the channels (``gray``/``rgb`` unset) and, without ``resize``, the size every image
    must have. The folder is listed once, here; ``threads``: decoding threads per task (default: all cores).
    Pass the array to :func:`kneighbors`, :func:`dimension` or :func:`score` (a folder path works too: shards of
    :data:`DEFAULT_IMAGE_SHARD` images).
    """
    _require_dask()
    import dask
    import dask.array as da

    if isinstance(shard_rows, bool) or not isinstance(shard_rows, (int, np.integer)) or shard_rows < 1:
        raise ValueError(f"shard_rows must be a positive integer, got {shard_rows!r}")
    info = _imanifold.image_rows(os.fspath(path), input_options(gray, rgb, resize, limit, sample, seed, recursive))
    files, (h, w, c) = info["files"], info["image_shape"]
    load = dask.delayed(load_images, pure=True)
    step = int(shard_rows)
    chunks = [da.from_delayed(load(tuple(files[a:a + step]), info["spec"], threads),
                              shape=(len(files[a:a + step]), h * w * c), dtype=np.float32)
              for a in range(0, len(files), step)]
    return da.concatenate(chunks, axis=0)


def _sources(x, rows: int, what: str):
    """[(global start, row count, source)] of ``x`` cut into pieces of at most ``rows`` rows (files and dask chunks
    are never merged), and the column count."""
    if _is_image_folder(x):
        x = image_folder(x)
    files = _npy_files(x)
    out, start, cols = [], 0, None
    if files is not None:
        for f in files:
            try:
                m = np.load(f, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise type(e)(f"{what}: cannot read {f}: {e}") from e
            if m.ndim < 2 or m.shape[0] == 0:
                raise ValueError(f"{what}: {f} must hold n ≥ 1 rows of coordinates, got shape {m.shape}")
            c = int(np.prod(m.shape[1:]))
            if cols is not None and c != cols:
                raise ValueError(f"{what}: {f} has {c} columns but the files before it have {cols}")
            cols = c
            for a in range(0, m.shape[0], rows):
                b = min(a + rows, m.shape[0])
                out.append((start + a, b - a, ("npy", str(f.resolve()), a, b)))
            start += m.shape[0]
        return out, cols
    import dask.array as da

    arr = x if isinstance(x, da.Array) else da.from_array(np.asarray(x), chunks=(min(rows, DEFAULT_SHARD_ROWS),) + (
        -1,) * (np.ndim(x) - 1))
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must hold n ≥ 1 rows of coordinates, got shape {arr.shape}")
    arr = arr.rechunk({i: -1 for i in range(1, arr.ndim)})
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    cols = arr.shape[1]
    chunks = arr.chunks[0]
    for block, c in zip(arr.to_delayed().ravel(), chunks):
        for a in range(0, c, rows):
            b = min(a + rows, c)
            out.append((start + a, b - a, block if (a, b) == (0, c) else block[a:b]))
        start += c
    return out, cols


def _tree(parts, k: int, split_every: int):
    import dask

    merge = dask.delayed(merge_topk, pure=True)
    while len(parts) > 1:
        parts = [merge(parts[i:i + split_every], k) if len(parts[i:i + split_every]) > 1 else parts[i]
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def kneighbors(queries, references, k: int, client=None, query_block: Optional[int] = None,
               strategy: str = "auto", threads: Optional[int] = None,
               split_every: int = DEFAULT_SPLIT_EVERY) -> Tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest reference rows of every query row, computed by Dask over shards.

    ``references`` / ``queries``: a list of .npy paths, a directory of .npy files (sorted by name; rows in file
    order), an image folder (a folder with a ``manifest.csv``, or with images and no .npy file:
    :func:`image_folder`), a ``dask.array`` (its row chunks are the shards) or a numpy array (cut into shards of
    :data:`DEFAULT_SHARD_ROWS` rows). Rows of more than two dimensions are flattened. ``queries=None`` or
    ``queries is references``: self mode, every reference row among the others (itself excluded), as
    ``NearestNeighbors().fit(R).kneighbors()`` and ``imanifold neighbors`` without ``--query``.

    ``client``: a ``distributed.Client`` (default: the current one, else Dask's default scheduler). Tasks are
    (query block of ``query_block`` rows × reference shard); each loads only its rows (.npy files memory-mapped).
    ``query_block=None``: :data:`QUERY_BLOCK_BYTES` of float32 rows, at least :data:`DEFAULT_QUERY_BLOCK` (21 399
    rows at d = 784). Fewer, larger reference shards and larger query blocks cost less in all (each task prepares
    its shard for the engine's search, and a shard's own k-th distance prunes less than the global one).
    ``strategy``: an exact strategy of ``NearestNeighbors`` (``"approx"`` is refused: its result depends on the
    shard). ``threads``: engine threads per task (default: all cores of the worker).

    Returns ``(distances float32, indices int64)``, n_query × k, identical bit for bit to
    ``NearestNeighbors(k).fit(concatenated references).kneighbors(concatenated queries)``.
    """
    _require_dask()
    import dask

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if query_block is not None and (isinstance(query_block, bool) or not isinstance(query_block, (int, np.integer))
                                    or query_block < 1):
        raise ValueError(f"query_block must be a positive integer, got {query_block!r}")
    if not isinstance(split_every, (int, np.integer)) or split_every < 2:
        raise ValueError(f"split_every must be an integer ≥ 2, got {split_every!r}")
    if strategy == "approx":
        raise ValueError("strategy 'approx' is not exact: the sharded result would differ from one process")
    k = int(k)
    self_mode = queries is None or queries is references
    refs, d = _sources(references, np.iinfo(np.int64).max, "references")
    n = sum(r[1] for r in refs)
    if query_block is None:
        query_block = max(DEFAULT_QUERY_BLOCK, QUERY_BLOCK_BYTES // (4 * d))
    if self_mode:
        qs, dq = _sources(references, int(query_block), "queries")
        if k >= n:
            raise ValueError(f"k = {k} needs more points: there are only {n - 1} candidate neighbours (n = {n})")
    else:
        qs, dq = _sources(queries, int(query_block), "queries")
        if k > n:
            raise ValueError(f"k = {k} needs more points: there are only {n} candidate neighbours (n = {n})")
    if dq != d:
        raise ValueError(f"queries have {dq} columns but the references have {d}")

    task = dask.delayed(shard_topk, pure=True)
    blocks = []
    for q0, _, qsrc in qs:
        parts = [task(qsrc, rsrc, k, r0, q0 if self_mode else None, strategy, threads) for r0, _, rsrc in refs]
        blocks.append(_tree(parts, k, int(split_every)))
    out = [finish(p, k) for p in _compute(blocks, client)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


# -------------------------------------------------------------------------------------------------- dimension
#
# Engine-agnostic task functions of `dimension` (plain numpy in and out; the kernels are the Rust library's): an
# engine maps `block_column_sums` / `block_scatter` over the canonical row blocks (`moment_blocks`) and folds the
# results with `combine_column_sums` / `combine_scatter` in groups of MOMENT_FANIN consecutive parts, level by level
# (a group of one passes through): the one-process PCA runs exactly this tree, hence the same bits.

#: Rows of a canonical block of the PCA moments (the leaves of their reduction tree; the library's constant).
MOMENT_BLOCK: int = _imanifold.MOMENT_BLOCK
#: Parts combined per node of the moments' reduction tree (the library's constant; not ``split_every``).
MOMENT_FANIN: int = _imanifold.MOMENT_FANIN


def _piece(src, lo: int, hi: int, rows: int):
    """Rows ``lo:hi`` of a source of ``rows`` rows."""
    if (lo, hi) == (0, rows):
        return src
    if isinstance(src, tuple) and src and src[0] == "npy":
        return ("npy", src[1], src[2] + lo, src[2] + hi)
    return src[lo:hi]


def moment_blocks(sources) -> List[list]:
    """The canonical blocks (global rows ``[j·MOMENT_BLOCK, (j+1)·MOMENT_BLOCK)``) of sources given as
    ``[(global start, rows, source)]`` in row order: per block, the pieces of sources it spans."""
    n = sum(s[1] for s in sources)
    out, i = [], 0
    for a in range(0, n, MOMENT_BLOCK):
        b = min(a + MOMENT_BLOCK, n)
        while sources[i][0] + sources[i][1] <= a:
            i += 1
        pieces, j = [], i
        while j < len(sources) and sources[j][0] < b:
            r0, rows, src = sources[j]
            pieces.append(_piece(src, max(a, r0) - r0, min(b, r0 + rows) - r0, rows))
            j += 1
        out.append(pieces)
    return out


def _load_block(pieces) -> np.ndarray:
    parts = [load_source(p) for p in pieces]
    return parts[0] if len(parts) == 1 else _native(np.concatenate(parts))


def block_column_sums(pieces) -> Tuple[int, np.ndarray]:
    """(rows, column sums f64) of one canonical block given as its pieces."""
    return _imanifold.block_column_sums(_load_block(pieces))


def block_scatter(pieces, mean: np.ndarray) -> Tuple[int, np.ndarray]:
    """(rows, lower triangle of Σ(x − mean)(x − mean)ᵀ, f64 d × d) of one canonical block."""
    return _imanifold.block_scatter(_load_block(pieces), _native(mean, np.float64))


def combine_column_sums(parts):
    """Partial column sums added left to right."""
    return _imanifold.combine_column_sums([(rows, _native(sums)) for rows, sums in parts])


def combine_scatter(parts):
    """Partial scatters added left to right."""
    return _imanifold.combine_scatter([(rows, _native(lower)) for rows, lower in parts])


def _tree_of(parts, combine, fanin: int):
    import dask

    node = dask.delayed(combine, pure=True)
    while len(parts) > 1:
        parts = [node(parts[i:i + fanin]) if len(parts[i:i + fanin]) > 1 else parts[i]
                 for i in range(0, len(parts), fanin)]
    return parts[0]


def _compute(objs: list, client):
    import dask

    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except ValueError:
            client = None
    if client is not None:
        return client.gather(client.compute(objs))
    return list(dask.compute(*objs))


def _pca_entries(sources, d: int, specs: List[Tuple[int, str, bool]], bootstrap: int, client) -> dict:
    """{position: entry} of the global PCA specs ``(position, spec, center)``: two passes of block moments."""
    import dask

    blocks = moment_blocks(sources)
    means = {}
    if any(c for _, _, c in specs):
        sums_task = dask.delayed(block_column_sums, pure=True)
        rows, sums = _compute([_tree_of([sums_task(b) for b in blocks], combine_column_sums, MOMENT_FANIN)],
                              client)[0]
        means[True] = _imanifold.column_means(rows, _native(sums))
    if not all(c for _, _, c in specs):
        means[False] = np.zeros(d, np.float64)
    scatter_task = dask.delayed(block_scatter, pure=True)
    centers = sorted(means)
    trees = [_tree_of([scatter_task(b, means[c]) for b in blocks], combine_scatter, MOMENT_FANIN) for c in centers]
    scatters = dict(zip(centers, _compute(trees, client)))
    out = {}
    for pos, spec, center in specs:
        rows, lower = scatters[center]
        out[pos] = json.loads(_imanifold.pca_from_scatter(spec, rows, _native(lower), bootstrap))
    return out


def dimension(shards, estimators: Sequence[str] = ("mle", "twonn"), n_neighbors: Optional[int] = None,
              k_range: Optional[Tuple[int, int]] = None, bootstrap: int = _imanifold.DEFAULT_BOOTSTRAP,
              seed: int = 0, client=None, query_block: Optional[int] = None, threads: Optional[int] = None,
              split_every: int = DEFAULT_SPLIT_EVERY) -> Dict[str, Dict[str, Any]]:
    """Intrinsic dimension of rows held in shards, as :func:`imanifold.id.estimate` on the concatenated rows.

    ``shards``: as the references of :func:`kneighbors`. ``estimators``, ``n_neighbors``, ``k_range``,
    ``bootstrap``, ``seed``: as :func:`imanifold.id.estimate` (estimator specs like ``"mle:comb=median"``).

    The kNN-based estimators run on the n × k neighbour table computed by :func:`kneighbors` (self mode) and
    gathered on the client: ``mle``, ``twonn``, ``gride``, ``mom``, ``mada``, ``mind-ml`` and ``imanifold`` with
    ``graph_test=false`` (the default ``imanifold`` estimator's quadratic-graph test and ``tle``, ``ess``,
    ``corrint``, ``danco``, ``knn``, ``fishers`` read the rows: ValueError). ``pca`` and ``lpca`` (their global fit)
    come from per-block column sums and scatter matrices computed in tasks and combined by a tree reduction.

    Returns the dict :func:`imanifold.id.estimate` returns (label → entry), with the same values bit for bit
    (``dimension``, ``ci95``, ``extra``, ``scale``; ``seconds`` aside) except: no half-sampling interval for the
    global estimators that have no analytic one (``pca``, ``lpca``, ``mind-ml``, ``mle`` with
    ``neighborhood_based=false``: ``ci95`` None and ``ci_method`` says why), and rows that repeat an earlier row
    are refused (ValueError) instead of dropped. PCA needs at least as many rows as columns.
    ``client``, ``query_block``, ``threads``, ``split_every``: as :func:`kneighbors`.
    """
    _require_dask()
    if isinstance(estimators, str):
        estimators = [estimators]
    specs = list(estimators)
    plan = json.loads(_imanifold.dimension_plan(specs, n_neighbors=n_neighbors, k_range=k_range))
    sources, d = _sources(shards, np.iinfo(np.int64).max, "shards")
    entries: Dict[int, dict] = {}
    table = [(i, s) for i, (s, p) in enumerate(zip(specs, plan["pca"])) if p is None]
    if table:
        dist, ind = kneighbors(shards, shards, plan["k_needed"], client=client, query_block=query_block,
                               threads=threads, split_every=split_every)
        got = json.loads(_imanifold.estimate_from_neighbors(
            dist, ind, d, [s for _, s in table], n_neighbors=n_neighbors, k_range=k_range, bootstrap=bootstrap,
            seed=seed, threads=threads))
        entries.update({i: e for (i, _), e in zip(table, got)})
    pca = [(i, s, p["center"]) for i, (s, p) in enumerate(zip(specs, plan["pca"])) if p is not None]
    if pca:
        for i, e in _pca_entries(sources, d, pca, bootstrap, client).items():
            # The table's entries carry the run's kNN entry: the sharded search is exact with strategy "auto", as
            # :func:`imanifold.id.estimate`'s default reports it.
            e.update(duplicates_dropped=0, k_neighbors_computed=plan["k_computed"], knn={"strategy": "auto"})
            if k_range is not None:
                e["scale"] = None
            entries[i] = e
    out = {}
    for i, label in enumerate(plan["labels"]):
        e = entries[i]
        e["label"] = label
        e["dimension"] = float("nan") if e["dimension"] is None else float(e["dimension"])
        e["ci95"] = tuple(float("nan") if v is None else float(v) for v in e["ci95"]) if e["ci95"] else None
        if e.get("scale"):
            e["scale"] = {k: np.array(v, dtype=np.int64) if k == "k" else
                          np.array([np.nan if x is None else x for x in v], dtype=np.float64)
                          for k, v in e["scale"].items()}
        out[label] = e
    return out



# ------------------------------------------------------------------------------------------------------- score
#
# Engine-agnostic task functions of `score` (plain numpy in and out; the kernels are the Rust library's pieces of
# `imanifold.score`): `row_digests` per reference shard (exact duplicates are refused), `take_rows` per (block ×
# reference shard) gathers the rows a block's neighbour lists name, `score_block` scores the block from its
# neighbour table and those rows.

#: Rows of a block of images (calibration images or queries) scored by one task unless ``query_block=`` says
#: otherwise.
DEFAULT_SCORE_BLOCK = 1024
#: Neighbours per image and calibration images of :func:`score` (the library's defaults).
SCORE_DEFAULT_K: int = _imanifold.SCORE_DEFAULT_K
SCORE_DEFAULT_CALIBRATION: int = _imanifold.SCORE_DEFAULT_CALIBRATION


def row_digests(src) -> np.ndarray:
    """16-byte BLAKE2b digests of a shard's rows (``-0.0`` read as ``0.0``, as the library's duplicate test)."""
    x = np.ascontiguousarray(load_source(src) + np.float32(0.0))
    return np.array([hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in x], dtype="S16")


def take_rows(src, start: int, rows: int, wanted) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(global indices ascending, their rows) of the rows of ``wanted`` (global indices, any shape) that lie in the
    shard of ``rows`` rows whose first row is global row ``start``; only those rows are read."""
    idx = np.unique(np.asarray(wanted, dtype=np.int64))
    idx = idx[(idx >= start) & (idx < start + rows)]
    if idx.size == 0:
        return idx, None
    local = idx - start
    if isinstance(src, tuple) and src and src[0] == "npy":
        m = np.load(src[1], mmap_mode="r")
        m = m.reshape(m.shape[0], -1)
        return idx, np.ascontiguousarray(m[src[2] + local], dtype=np.float32)
    return idx, np.ascontiguousarray(load_source(src)[local])


def _assemble(pieces, d: int) -> Tuple[np.ndarray, np.ndarray]:
    idx = [p[0] for p in pieces if p[1] is not None]
    rows = [p[1] for p in pieces if p[1] is not None]
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, d), np.float32)
    return np.concatenate(idx), _native(np.concatenate(rows))


def score_block(points, table, pieces, d: int, methods: str, k: int, dim: str, dimension: float,
                calibration: Optional[Dict[str, np.ndarray]] = None, threads: Optional[int] = None) -> dict:
    """The score columns of a block of images: ``table`` its (distances float32, global indices int64) neighbour
    lists, ``pieces`` the :func:`take_rows` of every reference shard for them (empty without ``tangent``),
    ``points`` the block's rows (None without ``tangent``). With ``calibration`` (column → sorted calibration
    values) also ``<column>_pct``, ``nearest`` and ``nearest_distance``."""
    dist, ind = table
    idx, rows = _assemble(pieces, d)
    if rows.shape[0]:
        local = np.searchsorted(idx, ind)
        if np.any(local >= idx.size) or np.any(idx[np.minimum(local, idx.size - 1)] != ind):
            raise RuntimeError("a neighbour row is missing: a shard was lost")
    else:
        local = np.zeros_like(ind)
    p = np.zeros((0, d), np.float32) if points is None else load_source(points)
    if calibration is not None:
        calibration = {c: _native(v) for c, v in calibration.items()}
    out = _imanifold.score_rows(p, _native(dist), _native(local), rows, methods, k, dim,
                                dimension, calibration=calibration, threads=threads)
    if calibration is not None:
        out["nearest"] = np.ascontiguousarray(ind[:, 0], dtype=np.int64)
        out["nearest_distance"] = dist[:, 0].astype(np.float64)
    return out


def _refuse_duplicates(digests: np.ndarray) -> None:
    uniq, first, counts = np.unique(digests, return_index=True, return_counts=True)
    if np.any(counts > 1):
        u = int(np.flatnonzero(counts > 1)[0])
        rows = np.flatnonzero(digests == uniq[u])
        raise ValueError(f"reference rows {rows[0]} and {rows[1]} are identical ({int((counts - 1).sum())} repeated "
                         "row(s) in all): imanifold.score drops such rows, the sharded score refuses them; drop "
                         "them from the shards first")


def _score_graph(blocks, refs, d: int, with_tangent: bool, args: tuple, calibration, threads):
    """One :func:`score_block` task per ``(points source, delayed or concrete (distances, indices))``."""
    import dask

    take = dask.delayed(take_rows, pure=True)
    run = dask.delayed(score_block, pure=True)
    out = []
    for psrc, table in blocks:
        pieces = [take(rsrc, r0, nr, table[1]) for r0, nr, rsrc in refs] if with_tangent else []
        out.append(run(psrc if with_tangent else None, table, pieces, d, *args, calibration=calibration,
                       threads=threads))
    return out


def score(reference, queries, methods: Optional[Sequence[str]] = None, k: int = SCORE_DEFAULT_K, dim="auto",
          calibration: int = SCORE_DEFAULT_CALIBRATION, seed: int = 0, client=None,
          query_block: int = DEFAULT_SCORE_BLOCK, threads: Optional[int] = None,
          split_every: int = DEFAULT_SPLIT_EVERY) -> Dict[str, np.ndarray]:
    """Off-manifold scores of every query row against the reference, computed by Dask over shards: the dict of
    :func:`imanifold.score` on the concatenated rows, with the same values bit for bit.

    ``reference`` / ``queries``: as the references / queries of :func:`kneighbors`. ``methods`` (``knn``,
    ``tangent``, ``lid``; default all three), ``k``, ``dim``, ``calibration``, ``seed``: as :func:`imanifold.score`.
    ``flow`` is not available here (ValueError). Rows of the reference that repeat an earlier row are refused
    (ValueError) instead of dropped.

    The reference's calibration is computed once: the calibration rows (the library's seeded sample) are gathered
    from the shards and their neighbours found by :func:`kneighbors` (all rows: its self mode), then scored by
    blocks; their sorted values are handed to the query tasks. Every block of ``query_block`` queries runs the
    (block × reference shard) top-k tasks of :func:`kneighbors`, gathers the neighbours' rows from the shards (for
    ``tangent`` only) and scores the block: only scores come back to the client.
    ``client``, ``threads``, ``split_every``: as :func:`kneighbors`.
    """
    _require_dask()
    import dask

    if methods is None:
        methods = "knn,tangent,lid"
    elif not isinstance(methods, str):
        methods = ",".join(methods)
    if "flow" in [m.strip().lower() for m in methods.split(",")]:
        raise ValueError("methods: the flow score is not available on Dask (it estimates an optical flow per "
                         "neighbour image, which has no sharded form here): use imanifold.score, or knn, tangent, lid")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if isinstance(query_block, bool) or not isinstance(query_block, (int, np.integer)) or query_block < 1:
        raise ValueError(f"query_block must be a positive integer, got {query_block!r}")
    k, dim, qb = int(k), str(dim), int(query_block)
    refs, d = _sources(reference, np.iinfo(np.int64).max, "reference")
    n = sum(r[1] for r in refs)
    qs, dq = _sources(queries, qb, "queries")
    if dq != d:
        raise ValueError(f"queries have {dq} columns but the reference has {d}")
    columns, sample = _imanifold.score_plan(n, methods, k, dim, int(calibration), int(seed))
    with_tangent = "tangent" in columns
    _refuse_duplicates(np.concatenate(_compute([dask.delayed(row_digests, pure=True)(s) for _, _, s in refs],
                                               client)))
    opts = dict(client=client, query_block=qb, threads=threads, split_every=split_every)
    if sample is None:  # every reference row is a calibration image: the self-kNN table
        raw = kneighbors(reference, reference, k, **opts)
        points = [(src, a, a + rows) for a, rows, src in _sources(reference, qb, "reference")[0]]
    else:
        got = _compute([dask.delayed(take_rows, pure=True)(s, r0, nr, sample) for r0, nr, s in refs], client)
        xc = _assemble(got, d)[1]
        raw = kneighbors(xc, reference, k + 1, **opts)
        points = [(xc[a:a + qb], a, min(a + qb, len(xc))) for a in range(0, len(xc), qb)]
    cdist, cind, dimension = _imanifold.score_calibration(_native(raw[0]), _native(raw[1]), sample, k)
    args = (methods, k, dim, dimension)
    cal = _compute(_score_graph([(p, (cdist[a:b], cind[a:b])) for p, a, b in points], refs, d, with_tangent, args,
                                None, threads), client)
    sorted_cal = {c: _imanifold.score_sorted_calibration(np.concatenate([p[c] for p in cal])) for c in columns}

    topk = dask.delayed(shard_topk, pure=True)
    fin = dask.delayed(finish, pure=True)
    blocks = []
    for _, _, qsrc in qs:
        parts = [topk(qsrc, rsrc, k, r0, None, "auto", threads) for r0, _, rsrc in refs]
        blocks.append((qsrc, fin(_tree(parts, k, int(split_every)), k)))
    res = _compute(_score_graph(blocks, refs, d, with_tangent, args, sorted_cal, threads), client)
    out = {}
    for c in columns:
        out[f"{c}_pct"] = np.concatenate([r[f"{c}_pct"] for r in res])
        out[c] = np.concatenate([r[c] for r in res])
    out["nearest"] = np.concatenate([r["nearest"] for r in res])
    out["nearest_distance"] = np.concatenate([r["nearest_distance"] for r in res])
    return out


# ------------------------------------------------------------------------------------------------------ render
#
# Engine-agnostic: `render_range` is one task (the library renders images [start, end) of the request into the
# staging folder, the files `imanifold render` writes for them); the client stages the folder, maps the task over
# the ranges, then completes it (`_imanifold.render_finish`: every image present, manifest.csv, render.json) and
# renames it into place.

#: Images rendered by one task unless ``range_size=`` says otherwise.
DEFAULT_RENDER_RANGE = 1024


def render_range(folder: str, request: dict, start: int, end: int, threads: Optional[int] = None) -> float:
    """Renders images ``start:end`` of ``request`` (the dict ``_imanifold.render_count`` takes) into
    ``folder``; returns the seconds spent. Rerunning it (a lost worker) rewrites the same bytes."""
    return _imanifold.render_range(folder, request, int(start), int(end), threads=threads)


def render(scene: str, out, vary=(), n: int = 100, size=64, sampling: str = "random", seed: int = 0,
           ssaa: int = 4, blur: float = 0.0, gray: bool = False, depth: bool = False, set: Sequence[str] = (),
           client=None, range_size: int = DEFAULT_RENDER_RANGE, threads: Optional[int] = None) -> dict:
    """Renders an image set of ``scene`` into the folder ``out`` by index ranges, one task per ``range_size``
    images: the folder ``imanifold render`` writes with the same options, byte for byte (``images/NNNNNN.png``,
    ``depth/NNNNNN.npy`` with ``depth``, ``manifest.csv``; ``render.json`` too, its timings and command line
    aside). Each image depends only on the request and its index, so ranges render apart in any order.

    ``scene``, ``vary``, ``n``, ``size``, ``sampling``, ``seed``, ``ssaa``, ``blur``, ``gray``, ``depth``: as
    :func:`imanifold.render`; ``set``: parameter defaults ``NAME=VALUE`` (``imanifold render --set``).
    images.npy and flow are not written here (``imanifold render`` writes them).

    ``out`` must not exist or be an empty folder. The tasks write into a hidden staging sibling of ``out`` (the
    workers must see the same file system); it is renamed into place once every image is there, and removed if
    the run fails: no partial output. ``client``: as :func:`kneighbors`; ``threads``: rendering threads per task
    (default: all cores of the worker). Returns the ``render.json`` written (a dict).
    """
    _require_dask()
    import dask

    if isinstance(vary, str):
        vary = vary.split(",")
    if isinstance(set, str):
        set = set.split(",")
    w, h = (size, size) if isinstance(size, (int, np.integer)) else size
    if isinstance(range_size, bool) or not isinstance(range_size, (int, np.integer)) or range_size < 1:
        raise ValueError(f"range_size must be a positive integer, got {range_size!r}")
    request = dict(scene=os.fspath(scene), vary=[v.strip() for v in vary if v.strip()], n=int(n), width=int(w),
                   height=int(h), sampling=str(sampling), seed=int(seed), ssaa=int(ssaa), blur=float(blur),
                   gray=bool(gray), depth=bool(depth), set=[s.strip() for s in set if s.strip()])
    total = _imanifold.render_count(request)
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
    stage = _imanifold.StagedDir(os.fspath(out))
    folder = os.fspath(stage.path)
    ranges = [(a, min(a + int(range_size), total)) for a in range(0, total, int(range_size))]
    futures = []
    try:
        t0 = time.perf_counter()
        if client is None:  # one range after the other: each task renders on all cores
            for a, b in ranges:
                render_range(folder, request, a, b, threads)
        else:
            task = dask.delayed(render_range, pure=True)
            futures = client.compute([task(folder, request, a, b, threads) for a, b in ranges])
            client.gather(futures)
        results = json.loads(_imanifold.render_finish(folder, request, time.perf_counter() - t0))
        stage.commit()
    except BaseException:
        # Remove the staging folder first (ranges that start later refuse the missing folder), then wait for the
        # ranges still running and remove what they wrote meanwhile: nothing is left behind.
        stage.discard()
        if futures:
            from distributed import wait

            try:
                wait(futures)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        raise
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m imanifold.dask``: see ``python -m imanifold.dask --help``."""
    from ._dask_cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
