"""Off-manifold scores of query images against a reference set."""
from __future__ import annotations

import json
import os

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _imanifold
from ._util import as_matrix

DEFAULT_K: int = _imanifold.SCORE_DEFAULT_K
DEFAULT_CALIBRATION: int = _imanifold.SCORE_DEFAULT_CALIBRATION


def score(reference, query, methods: Optional[Union[str, Sequence[str]]] = None, k: int = DEFAULT_K,
          dim: Union[str, int] = "auto", calibration: int = DEFAULT_CALIBRATION,
          flow_method: str = _imanifold.SCORE_DEFAULT_FLOW_METHOD, seed: int = 0,
          image_shape: Optional[Tuple[int, int, int]] = None,
          features: Optional[Union[str, os.PathLike]] = None, groups: Optional[Sequence[str]] = None,
          threads: Optional[int] = None, mahalanobis_noise: float = 0.0,
          flow_neighbors: int = _imanifold.SCORE_DEFAULT_FLOW_NEIGHBORS,
          flow_calibration: int = _imanifold.SCORE_DEFAULT_FLOW_CALIBRATION, knn_strategy: str = "auto"
          ) -> Dict[str, Any]:
    """Off-manifold scores of every row of ``query`` against ``reference``, as ``imanifold score --reference R
    --query Q`` (same numbers for the same data and seed).

    Args:
        reference, query: n × d matrices (one image per row; converted to float32 once when needed; the library
            reads float32 C-contiguous arrays in place, without a copy).
        methods: score names (``knn``, ``tangent``, ``lid``, ``flow``; with ``features`` also ``mahalanobis`` and
            ``softmax``), a list or comma-separated. Default: ``knn,tangent,lid``; with ``features``
            ``knn,tangent,lid,mahalanobis,softmax``.
        k: neighbours per image.
        dim: tangent dimension: ``"auto"`` or a whole number.
        calibration: reference images used for the leave-one-out calibration.
        flow_method: optical-flow method of the ``flow`` score.
        flow_neighbors: nearest reference images the ``flow`` score tries (``--flow-neighbors``).
        flow_calibration: calibration images of the ``flow`` score, a seeded sub-sample of the calibration images
            (``--flow-calibration``).
        seed: seed of the calibration samples.
        image_shape: (h, w, c) of the rows, needed by the ``flow`` score.
        features: ``"MODEL_DIR[:LAYER,...]"``: score in the classifier's feature space instead, as ``imanifold score
            --features`` (layers ``conv1``, ..., ``hidden``, ``logits``; default every hidden layer). The rows are
            images of the model's input shape.
        groups: with ``features``, one group name per query row: adds the groups' AUROCs against ``natural`` (else
            the first group) and the logistic-regression combination to the report.
        threads: worker threads (default: all cores).
        mahalanobis_noise: with ``features``, Lee et al.'s input pre-processing for the ``mahalanobis`` score: the
            step (pixel units, images in [0, 1]) each calibration and query image takes towards its nearest class at
            each layer before it is scored (``imanifold score --mahalanobis-noise``); 0 scores the images as given.
        knn_strategy: the kNN search of the reference (``--knn-strategy``): ``"auto"``, ``"brute"``, ``"pruned"``,
            ``"tree"`` (exact) or ``"approx"`` (graph candidates re-ranked by exact distances, for large references).

    Returns:
        dict: each score column's float64 values (``knn`` gives ``knn_kth`` and ``knn_mean``) and ``<score>_pct`` (percentile among the reference's leave-one-out
        values), ``nearest`` (int64 nearest reference row) and ``nearest_distance``. With ``features``: columns
        ``LAYER.SCORE`` and ``LAYER.SCORE_pct`` and ``report`` (dict: ``layers``, ``methods``, ``labels``,
        ``groups``, ``combination``).

    Raises ValueError for bad options or data (different widths, too few reference rows, ...).
    """
    if methods is not None and not isinstance(methods, str):
        methods = ",".join(methods)
    if features is not None:
        if image_shape is not None:
            raise ValueError("image_shape does not apply with features= (the model gives the input shape)")
        out = _imanifold.score_features(as_matrix(reference, "reference"), as_matrix(query, "query"),
                                        os.fspath(features), methods, int(k), str(dim), int(calibration), int(seed),
                                        groups=None if groups is None else [str(g) for g in groups], threads=threads,
                                        mahalanobis_noise=float(mahalanobis_noise),
                                        knn_strategy=str(knn_strategy))
        out["report"] = json.loads(out["report"])
        return out
    if groups is not None:
        raise ValueError("groups= applies with features=")
    if mahalanobis_noise:
        raise ValueError("mahalanobis_noise= applies with features=")
    if methods is None:
        methods = "knn,tangent,lid"
    return _imanifold.score(as_matrix(reference, "reference"), as_matrix(query, "query"), methods, int(k), str(dim),
                            int(calibration), flow_method, int(seed), image_shape=image_shape, threads=threads,
                            flow_neighbors=int(flow_neighbors), flow_calibration=int(flow_calibration),
                            knn_strategy=str(knn_strategy))
