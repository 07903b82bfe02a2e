"""Off-manifold scores of query images against a reference set."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _imanifold
from ._util import as_matrix

DEFAULT_K: int = _imanifold.SCORE_DEFAULT_K
DEFAULT_CALIBRATION: int = _imanifold.SCORE_DEFAULT_CALIBRATION


def score(reference, query, methods: Union[str, Sequence[str]] = "knn,tangent,lid", k: int = DEFAULT_K,
          dim: Union[str, int] = "auto", calibration: int = DEFAULT_CALIBRATION,
          flow_method: str = _imanifold.SCORE_DEFAULT_FLOW_METHOD, seed: int = 0,
          image_shape: Optional[Tuple[int, int, int]] = None,
          threads: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Off-manifold scores of every row of ``query`` against ``reference``, as ``imanifold score --reference R
    --query Q`` (same numbers for the same data and seed).

    Args:
        reference, query: n × d matrices (one image per row; converted to float32 once when needed; the library
            reads float32 C-contiguous arrays in place, without a copy).
        methods: score names (``knn``, ``tangent``, ``lid``, ``flow``), a list or comma-separated.
        k: neighbours per image.
        dim: tangent dimension: ``"auto"`` or a whole number.
        calibration: reference images used for the leave-one-out calibration.
        flow_method: optical-flow method of the ``flow`` score.
        seed: seed of the calibration samples.
        image_shape: (h, w, c) of the rows, needed by the ``flow`` score.
        threads: worker threads (default: all cores).

    Returns:
        dict: each score column's float64 values (``knn`` gives ``knn_kth`` and ``knn_mean``) and ``<score>_pct`` (percentile among the reference's leave-one-out
        values), ``nearest`` (int64 nearest reference row) and ``nearest_distance``.

    Raises ValueError for bad options or data (different widths, too few reference rows, ...).
    """
    if not isinstance(methods, str):
        methods = ",".join(methods)
    return _imanifold.score(as_matrix(reference, "reference"), as_matrix(query, "query"), methods, int(k), str(dim),
                            int(calibration), flow_method, int(seed), image_shape=image_shape, threads=threads)
