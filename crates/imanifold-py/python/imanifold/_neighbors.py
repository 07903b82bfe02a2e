"""`NearestNeighbors` with scikit-learn's interface."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import _imanifold
from ._util import as_matrix


class NearestNeighbors:
    """Exact k nearest neighbours (Euclidean), scikit-learn's ``NearestNeighbors`` interface.

    Args:
        n_neighbors: default number of neighbours of :meth:`kneighbors`.
        strategy: ``"auto"`` (default), ``"brute"`` (blocked GEMM), ``"pruned"`` (principal-coordinate bounds,
            exact refinement) or ``"tree"`` (k-d tree, low dimension) give the same exact answer; ``"approx"``
            (HNSW graph, large collections) returns exact distances of approximate neighbours.
        threads: worker threads (default: all cores).
        ef_search: candidates per query of ``"approx"`` (higher: better recall, slower).
        ef_construction: candidates per insertion while building the graph of ``"approx"``.
        approx_dims: leading principal coordinates the graph of ``"approx"`` is built on (0: all columns);
            candidates are re-ranked with exact distances.
        seed: seed of the graph of ``"approx"``.

    The approx parameters are those of ``imanifold neighbors --strategy approx`` (``--ef-search``,
    ``--ef-construction``, ``--approx-dims``, ``--seed``), with the same defaults: the same values give the same
    neighbours.

    ``fit(R)`` keeps ``R`` (a C-contiguous float32 array is kept as it is, other inputs are converted once to
    float32).
    """

    def __init__(self, n_neighbors: int = 5, strategy: str = "auto", threads: Optional[int] = None,
                 ef_search: int = _imanifold.KNN_DEFAULT_EF_SEARCH,
                 ef_construction: int = _imanifold.KNN_DEFAULT_EF_CONSTRUCTION,
                 approx_dims: int = _imanifold.KNN_DEFAULT_APPROX_DIMS, seed: int = 0):
        self.n_neighbors = n_neighbors
        self.strategy = strategy
        self.threads = threads
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.approx_dims = approx_dims
        self.seed = seed

    def fit(self, X, y=None) -> "NearestNeighbors":
        """Stores the reference points ``X`` (n × d); returns self."""
        self._fit_X = as_matrix(X, "X")
        self.n_samples_fit_, self.n_features_in_ = self._fit_X.shape
        return self

    def kneighbors(self, X=None, n_neighbors: Optional[int] = None, return_distance: bool = True
                   ) -> Union[Tuple[np.ndarray, np.ndarray], np.ndarray]:
        """The ``n_neighbors`` nearest reference points of every row of ``X``.

        ``X=None``: the neighbours of every reference point among the others (the point itself excluded, as in
        scikit-learn). Returns ``(distances, indices)`` — distances float32, Euclidean (not squared), ascending;
        indices int64 into the reference rows, ties broken by the smaller index — or only ``indices`` when
        ``return_distance`` is False. Raises ValueError for a bad ``n_neighbors``, strategy or input.
        """
        if not hasattr(self, "_fit_X"):
            raise ValueError("this NearestNeighbors instance is not fitted yet: call fit(X) first")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {k!r}")
        query = None if X is None else as_matrix(X, "X")
        for name in ("ef_search", "ef_construction", "approx_dims", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        dist, ind = _imanifold.kneighbors(self._fit_X, query, int(k), strategy=self.strategy, threads=self.threads,
                                          ef_search=int(self.ef_search), ef_construction=int(self.ef_construction),
                                          approx_dims=int(self.approx_dims), seed=int(self.seed))
        return (dist, ind) if return_distance else ind

    def __repr__(self) -> str:
        approx = (f", ef_search={self.ef_search}, ef_construction={self.ef_construction}, "
                  f"approx_dims={self.approx_dims}, seed={self.seed}") if self.strategy == "approx" else ""
        return f"NearestNeighbors(n_neighbors={self.n_neighbors}, strategy={self.strategy!r}{approx})"
