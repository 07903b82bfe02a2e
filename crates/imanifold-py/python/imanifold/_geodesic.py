"""Geodesic distances on the kNN graph of a collection."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _imanifold
from ._util import input_options

DEFAULT_K: int = _imanifold.GEODESIC_DEFAULT_K
DEFAULT_DIMS: int = _imanifold.GEODESIC_DEFAULT_DIMS
DEFAULT_METRIC: str = _imanifold.GEODESIC_DEFAULT_METRIC
DEFAULT_FLOW_METHOD: str = _imanifold.GEODESIC_DEFAULT_FLOW_METHOD
DEFAULT_PHOTOMETRIC_WEIGHT: float = _imanifold.GEODESIC_DEFAULT_PHOTOMETRIC_WEIGHT
DEFAULT_GRAPH: str = _imanifold.GEODESIC_DEFAULT_GRAPH
DEFAULT_PATH_FRAMES: int = _imanifold.GEODESIC_DEFAULT_PATH_FRAMES


def _images_matrix(data) -> Tuple[np.ndarray, Optional[Tuple[int, int, int]]]:
    a = np.asarray(data)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"data must hold numbers, got dtype {a.dtype}")
    if a.ndim == 2:
        return np.ascontiguousarray(a, dtype=np.float32), None
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ValueError(f"data must be N×H×W[×C] images or an N×d matrix, got shape {a.shape}")
    n, h, w, c = a.shape
    return np.ascontiguousarray(a, dtype=np.float32).reshape(n, h * w * c), (h, w, c)


def geodesic(data, k: int = DEFAULT_K, metric: str = DEFAULT_METRIC, flow_method: str = DEFAULT_FLOW_METHOD,
             photometric_weight: float = DEFAULT_PHOTOMETRIC_WEIGHT,
             truth: Union[str, Sequence[str], Mapping[str, Any]] = (),
             periodic: Optional[Mapping[str, float]] = None, truth_scale: Optional[Mapping[str, float]] = None,
             sources: Optional[Sequence[int]] = None, dims: int = DEFAULT_DIMS, graph: str = DEFAULT_GRAPH, path: Optional[Tuple[Any, Any]] = None,
             path_frames: int = DEFAULT_PATH_FRAMES, gray: bool = False, rgb: bool = False,
             resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
             seed: int = 0, recursive: bool = False, threads: Optional[int] = None) -> Dict[str, Any]:
    """Geodesic distances on the symmetrised kNN graph of a collection, weighted by optical flow or pixel distance,
    with the Isomap embedding and the agreement with true parameters: ``imanifold geodesic`` (same numbers as its
    ``geodesic.npy`` and ``results.json`` for the same data and options).

    Args:
        data: a path the loaders read (e.g. a ``render`` output folder, whose ``manifest.csv`` holds the true
            parameters), or in-memory images N×H×W (grey) / N×H×W×C in [0, 1], or an N×d matrix (``metric=
            "euclidean"`` only). Arrays are converted to C-contiguous float32 once when needed.
        k: neighbours per image of the graph.
        metric: ``flow`` (RMS optical-flow length + photometric residual term) or ``euclidean`` (pixel distance).
        flow_method: optical-flow method of the flow metric (see :func:`imanifold.flow_methods`).
        photometric_weight: λ, pixels charged per unit of RMS photometric residual.
        truth: for a path, names of manifest columns holding the true parameters (list or comma-separated); for
            arrays, a dict name → one value per image. Correlations of the distances with the distance in truth
            space are reported.
        periodic: periodic truth columns, name → period (e.g. ``{"yaw": 360}``): differences wrap around.
        truth_scale: units of truth columns, name → scale (differences are divided by it before the columns are
            combined into √Σ(Δ/scale)²; e.g. ``{"yaw": 90, "distance": 0.5}``).
        sources: only distances from these rows (default: all rows → N×N matrix and the embedding).
        dims: dimensions of the Isomap embedding (0: none).
        graph: ``relative`` (default: kNN edges kept unless the flow explains them much worse than their ends' best
            edges, gaps closed by verified candidates), ``verified`` (candidates kept when the flow explains them,
            gaps bridged) or ``knn`` (symmetrised kNN graph); the first two need the flow metric; as
            ``imanifold geodesic --graph``.
        path: two endpoints (row indices or image file names): the shortest path between them (``--path I,J``);
            path_frames: flow-morph in-between frames per edge of the path.
        gray, rgb, resize, limit, sample, seed, recursive: the loaders' options for a path (as :func:`load`).
        threads: worker threads (default: all cores; results do not depend on it).

    Returns:
        dict with ``distances`` (float32, sources × N; +inf between components), ``embedding`` (float64 nodes × dims,
        or None) and ``embedding_nodes`` (int64 rows embedded: the largest component), ``component_labels`` (int64
        per row), ``edges`` (dict: ``pairs`` int64 E×2, ``euclidean``, ``weight`` and for the flow metric
        ``flow_rms`` and ``residual``, float64), ``correlation`` (distance name → {spearman, pearson, pairs}; empty
        without truth) and ``report`` (the fields of the CLI's ``results.json`` but ``files``); with ``path``, also
        ``path`` (dict: ``nodes`` int64 rows visited, ``steps`` float64 edge weights, ``frames`` float32 m×H×W×C,
        ``frame_rows`` int64 (−1 for an in-between), ``frame_positions`` float64; the parameter errors are in
        ``report["path"]``, and for a render folder ``report["path"]["rendered_truth"]`` holds the RMSE of each frame
        against the scene rendered on the true straight path in parameter space).

    Raises:
        ValueError: bad options, unknown truth column, flow metric on a plain matrix; FileNotFoundError / OSError:
        missing or unreadable input.
    """
    periodic = periodic or {}
    opts = {"k": int(k), "metric": str(metric), "flow_method": str(flow_method),
            "photometric_weight": float(photometric_weight),
            "periodic": [f"{name}={float(p)!r}" for name, p in periodic.items()],
            "sources": None if sources is None else [int(s) for s in sources], "dims": int(dims),
            "graph": str(graph),
            "scales": [f"{name}={float(v)!r}" for name, v in (truth_scale or {}).items()], "path": None if path is None else f"{path[0]},{path[1]}",
            "path_frames": int(path_frames)}
    if isinstance(data, (str, os.PathLike)):
        if isinstance(truth, Mapping):
            raise ValueError("truth as a dict of values is for in-memory data; for a path, name manifest columns")
        opts["truth"] = [t.strip() for t in truth.split(",") if t.strip()] if isinstance(truth, str) else list(truth)
        out = _imanifold.geodesic_path(os.fspath(data), opts,
                                       input_options(gray, rgb, resize, limit, sample, seed, recursive),
                                       threads=threads)
    else:
        if truth and not isinstance(truth, Mapping):
            raise ValueError("for in-memory data, truth is a dict name → one value per image")
        columns = [(str(name), np.asarray(v, dtype=np.float64).ravel().tolist()) for name, v in dict(truth).items()]
        opts["truth"] = [name for name, _ in columns]
        x, shape = _images_matrix(data)
        out = _imanifold.geodesic_arrays(x, opts, image_shape=shape, columns=columns, threads=threads)
    out["report"] = json.loads(out["report"])
    out.setdefault("embedding", None)
    out.setdefault("embedding_nodes", None)
    out["correlation"] = out["report"].get("correlation", {})
    return out
