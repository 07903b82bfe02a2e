"""Intrinsic-dimension estimators with scikit-dimension's class and parameter names (``skdim.id``).

Every class takes scikit-dimension's parameter names as keyword arguments; a parameter left at None takes the
library's default (the one shown by ``help()`` and by :meth:`get_params`; they are scikit-dimension 0.5's).
``fit(X)`` sets ``dimension_`` and ``ci95_`` (95 % interval: analytic where the likelihood gives one, else a
bootstrap of ``bootstrap`` replicates; None without one); ``fit_pw(X, n_neighbors=100)`` sets ``dimension_pw_``.
Rows that exactly repeat an earlier row are dropped before ``fit`` (as ``imanifold dim`` does by default); ``fit_pw``
refuses them.

:func:`estimate` runs several estimators on one kNN pass, as ``imanifold dim`` does (same numbers for the same
seed), with ID-vs-scale curves.

Inputs: C-contiguous float32 arrays are used without a copy; other dtypes and memory orders are converted once.
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _imanifold
from ._util import as_matrix

DEFAULT_BOOTSTRAP: int = _imanifold.DEFAULT_BOOTSTRAP
DEFAULT_PW_NEIGHBORS: int = _imanifold.DEFAULT_PW_NEIGHBORS


def _json(params: Dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in params.items() if v is not None},
                      default=lambda o: o.item() if isinstance(o, np.generic) else str(o))


class _Estimator:
    """Base of the estimator classes (the class attributes name the library estimator and its parameters)."""

    _name: str = ""
    _params: Tuple[str, ...] = ()
    _fit_params: Tuple[str, ...] = ()

    def __init__(self, **params: Any):
        for key in params:
            if key not in self._params:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r} "
                                f"(parameters: {', '.join(self._params)})")
        for key in self._params:
            setattr(self, key, params.get(key))
        self._resolved()  # bad values raise ValueError here

    def _given(self, overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        given = {k: getattr(self, k) for k in self._params}
        given.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return given

    def _resolved(self, overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return json.loads(_imanifold.estimator_params(self._name, _json(self._given(overrides))))

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Parameters in scikit-dimension's names, defaults filled in."""
        return self._resolved()

    def set_params(self, **params: Any) -> "_Estimator":
        for key, value in params.items():
            if key not in self._params:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        self._resolved()
        return self

    def fit(self, X, y=None, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0, threads: Optional[int] = None,
            **fit_params: Any) -> "_Estimator":
        """Fits the estimator on ``X`` (n × d); returns self.

        Sets ``dimension_`` (float), ``ci95_`` ((low, high) or None), ``ci_method_``, ``extra_`` (dict of
        estimator-specific values), and for local estimators (MLE, MOM, TLE, MADA, ESS) ``dimension_pw_``.
        ``bootstrap``: replicates of the intervals that are not analytic (0: none); ``seed``: seed of every random
        choice (as the CLI's ``--seed``); ``threads``: worker threads (default: all cores). Local estimators also
        take scikit-dimension's ``fit`` arguments ``n_neighbors`` and ``comb`` here.
        """
        for key in fit_params:
            if key not in self._fit_params:
                raise TypeError(f"{type(self).__name__}.fit() got an unexpected keyword argument {key!r}")
        X = as_matrix(X)
        entry, pw = _imanifold.fit(X, self._name, _json(self._given(fit_params)), bootstrap, seed, threads=threads)
        entry = json.loads(entry)
        self.dimension_ = _num(entry["dimension"])
        self.ci95_ = tuple(_num(v) for v in entry["ci95"]) if entry["ci95"] is not None else None
        self.ci_method_ = entry["ci_method"]
        self.extra_ = entry["extra"]
        self.params_ = entry["params"]
        self.duplicates_dropped_ = entry["duplicates_dropped"]
        if pw is not None:
            self.dimension_pw_ = pw
        return self

    def fit_pw(self, X, y=None, *, n_neighbors: int = DEFAULT_PW_NEIGHBORS, smooth: bool = False, seed: int = 0,
               threads: Optional[int] = None) -> "_Estimator":
        """Per-point estimates (scikit-dimension's ``fit_pw``); returns self with ``dimension_pw_`` (float64, one per
        row; NaN where a neighbourhood fit fails).

        Global estimators are fitted inside each point's ``n_neighbors`` nearest neighbours; local estimators give
        their own per-point values. ``smooth``: also the mean over the point and its neighbours
        (``dimension_pw_smooth_``). Raises ValueError for duplicate rows.
        """
        X = as_matrix(X)
        pw = _imanifold.fit_pw(X, self._name, _json(self._given()), n_neighbors, False, seed, threads=threads)
        self.dimension_pw_ = pw
        if smooth:
            self.dimension_pw_smooth_ = _imanifold.fit_pw(X, self._name, _json(self._given()), n_neighbors, True,
                                                          seed, threads=threads)
        return self

    def fit_transform(self, X, y=None, **kwargs: Any) -> float:
        """``fit(X).dimension_``."""
        return self.fit(X, y, **kwargs).dimension_

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._params if getattr(self, k) is not None)
        return f"{type(self).__name__}({given})"


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


_LOCAL = ("n_neighbors", "comb")


def _define(cls_name: str, name: str, params: Tuple[str, ...], doc: str, local: bool = False) -> type:
    """An estimator class whose ``__init__`` signature lists the parameters with the library's defaults."""
    all_params = params + (_LOCAL if local else ())
    cls = type(cls_name, (_Estimator,), {"_name": name, "_params": all_params,
                                         "_fit_params": _LOCAL if local else (), "__module__": __name__})
    defaults = json.loads(_imanifold.estimator_params(name, "{}"))

    def __init__(self, **params: Any) -> None:
        _Estimator.__init__(self, **params)

    sig = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    sig += [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(p)) for p in all_params]
    __init__.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]
    __init__.__doc__ = f"Parameters (scikit-dimension's names): {', '.join(all_params)}."
    cls.__init__ = __init__  # type: ignore[misc]
    shown = ", ".join(f"{p}={defaults.get(p)!r}" for p in all_params)
    cls.__doc__ = f"{doc}\n\nDefaults: {shown}.\n\nSee the module documentation for fit, fit_pw and inputs."
    return cls


lPCA = _define("lPCA", "lpca", ("ver", "alphaRatio", "alphaFO", "alphaFan", "betaFan", "PFan", "verbose", "center",
                                "fit_explained_variance"),
               "PCA-based dimension (skdim lPCA): counts principal components by the criterion ``ver`` "
               "('FO', 'Fan', 'maxgap', 'ratio', 'participation_ratio', 'Kaiser', 'broken_stick').")
MLE = _define("MLE", "mle", ("sigma", "integral_approximation", "unbiased", "neighborhood_based", "K"),
              "Levina–Bickel maximum likelihood (skdim MLE), per point over ``n_neighbors`` neighbours, combined by "
              "``comb`` ('mle': MacKay–Ghahramani harmonic mean, 'mean', 'median').", local=True)
TwoNN = _define("TwoNN", "twonn", ("discard_fraction", "dist", "method"),
                "Two nearest neighbours (Facco et al. 2017; skdim TwoNN): ``method`` 'linear' (skdim's fit) or "
                "'mle'.")
GRIDE = _define("GRIDE", "gride", ("n1", "n2", "multiscale", "range_max"),
                "Generalised ratios ID estimator (Denti et al. 2022; DADApy's compute_id_gride): neighbour orders "
                "``n1`` < ``n2``, optionally ``multiscale`` up to ``range_max``.")
CorrInt = _define("CorrInt", "corrint", ("k1", "k2", "DM"),
                  "Correlation dimension (Grassberger–Procaccia; skdim CorrInt) between the radii of the "
                  "``k1``-th and ``k2``-th neighbours.")
DANCo = _define("DANCo", "danco", ("k", "D", "ver", "fractal", "verbose", "random_state", "margin"),
                "DANCo (Ceruti et al. 2014; skdim DANCo): neighbour-distance and angle statistics compared with "
                "calibration on uniform balls (computed once and cached).")
ESS = _define("ESS", "ess", ("ver", "d", "random_state"),
              "Expected simplex skewness (Johnsson et al. 2015; skdim ESS), per point.", local=True)
FisherS = _define("FisherS", "fishers", ("conditional_number", "project_on_sphere", "produce_plots", "verbose",
                                         "limit_maxdim"),
                  "Fisher separability (Albergante et al. 2019; skdim FisherS).")
KNN = _define("KNN", "knn", ("k", "ps", "M", "gamma", "random_state"),
              "kNN-graph length (Carter et al. 2010; skdim KNN).")
MADA = _define("MADA", "mada", ("DM",),
               "Manifold-adaptive dimension (Farahmand et al. 2007; skdim MADA), per point.", local=True)
MiND_ML = _define("MiND_ML", "mind-ml", ("k", "D", "ver"),
                  "MiND maximum likelihood (Rozza et al. 2012; skdim MiND_ML), ``ver`` 'MLk' or 'MLi'.")
MOM = _define("MOM", "mom", (), "Method of moments (Amsaleg et al. 2018; skdim MOM), per point.", local=True)
TLE = _define("TLE", "tle", ("epsilon",),
              "Tight local estimator (Amsaleg et al. 2019; skdim TLE), per point.", local=True)
Imanifold = _define("Imanifold", "imanifold", ("base", "n_neighbors", "reference", "replicates", "random_state", "D",
                                               "mix_k", "graph_test", "calibration"),
                    "imanifold's default estimator: a local quadratic-graph test where it is conclusive, else the "
                    "average of TwoNN-ML and MLE(k=5), each bias-corrected by calibration on uniform balls.")

ESTIMATORS = {c.__name__: c for c in (lPCA, MLE, TwoNN, GRIDE, CorrInt, DANCo, ESS, FisherS, KNN, MADA, MiND_ML, MOM,
                                      TLE, Imanifold)}


def estimate(X, estimators: Sequence[str] = ("imanifold",), n_neighbors: Optional[int] = None,
             k_range: Optional[Tuple[int, int]] = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0,
             threads: Optional[int] = None, knn_strategy: str = "auto") -> Dict[str, Dict[str, Any]]:
    """Several estimators on one kNN pass, as ``imanifold dim`` (same numbers for the same seed).

    Args:
        X: n × d data (float32 C-contiguous: no copy; anything else converted once). Rows that exactly repeat an
            earlier row are dropped first (``duplicates_dropped`` in each entry).
        estimators: names (``pca lpca mle twonn gride corrint danco mind-ml ess fishers mom tle mada knn
            imanifold``; scikit-dimension class names work too), optionally with parameters as in the CLI:
            ``"mle:comb=median,unbiased=true"``.
        n_neighbors: neighbours of the local estimators (mle, mom, tle, mada, ess, imanifold) that do not set it
            (the CLI's ``--k``).
        k_range: (A, B): also re-estimate at neighbourhood sizes A..=B (``scale`` entry: dict of lists ``k``,
            ``dimension``, ``ci_low``, ``ci_high``; None for estimators without a scale parameter).
        bootstrap: replicates of the intervals that are not analytic (0: none).
        seed: seed of every random choice.
        threads: worker threads (default: all cores).
        knn_strategy: the kNN search (the CLI's ``--knn-strategy``): ``"auto"``, ``"brute"``, ``"pruned"``,
            ``"tree"`` (exact, the same neighbours) or ``"approx"`` (graph candidates re-ranked by exact distances,
            for large collections; its recall on a sample of rows is reported in each entry's ``knn``).

    Returns:
        dict label → {estimator, params, dimension, ci95, ci_method, seconds, extra, label, knn, ...}; the label is
        the estimator name, suffixed ``_2``, ``_3`` when an estimator is requested again; ``knn`` is results.json's
        (``strategy``, and ``recall_at_k``, ``min_row_recall``, ``sampled_queries``, ``ef_search`` with ``approx``).
    """
    if isinstance(estimators, str):
        estimators = [estimators]
    X = as_matrix(X)
    entries = json.loads(_imanifold.estimate(X, list(estimators), n_neighbors=n_neighbors, k_range=k_range,
                                             bootstrap=bootstrap, seed=seed, threads=threads,
                                             knn_strategy=str(knn_strategy)))
    out = {}
    for e in entries:
        e["dimension"] = _num(e["dimension"])
        e["ci95"] = tuple(_num(v) for v in e["ci95"]) if e["ci95"] is not None else None
        if e.get("scale"):
            e["scale"] = {k: np.array([_num(v) for v in vals]) if k != "k" else np.array(vals, dtype=np.int64)
                          for k, vals in e["scale"].items()}
        out[e["label"]] = e
    return out


def names() -> List[str]:
    """Every estimator name :func:`estimate` accepts (scikit-dimension's class names are accepted too)."""
    return list(_imanifold.estimator_names())


__all__ = list(ESTIMATORS) + ["estimate", "names", "ESTIMATORS", "DEFAULT_BOOTSTRAP", "DEFAULT_PW_NEIGHBORS"]
