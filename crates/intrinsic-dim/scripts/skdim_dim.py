#!/usr/bin/env python3
"""scikit-dimension beside `imanifold bench dim`: the global estimates of a .npy matrix, each estimator fitted as
scikit-dimension's users call it, timed fit by fit.

    python skdim_dim.py X.npy --estimator mle --estimator twonn --estimator lpca [--k 20]

`--k` is passed as `n_neighbors` to the estimators that take it in `fit` (mle, mom, tle, mada, ess); the others use
their defaults, as `imanifold dim --k` does. Prints one JSON object: {"n", "d", "estimates": [{"estimator",
"dimension", "seconds", "cpu_seconds"}], "seconds", "cpu_seconds"} where the totals cover the fits only (not Python's
start or the imports); *cpu_seconds is the process's CPU time over the same spans (all BLAS threads included).
"""
import argparse
import json
import time
import warnings

import numpy as np
import skdim

ESTIMATORS = {
    "lpca": lambda: skdim.id.lPCA(),
    "mle": lambda: skdim.id.MLE(),
    "twonn": lambda: skdim.id.TwoNN(),
    "mom": lambda: skdim.id.MOM(),
    "tle": lambda: skdim.id.TLE(),
    "mada": lambda: skdim.id.MADA(),
    "ess": lambda: skdim.id.ESS(random_state=0),
    "fishers": lambda: skdim.id.FisherS(),
    "corrint": lambda: skdim.id.CorrInt(),
}
TAKES_K = {"mle", "mom", "tle", "mada", "ess"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("x")
    p.add_argument("--estimator", action="append", required=True, choices=sorted(ESTIMATORS))
    p.add_argument("--k", type=int)
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    x = np.load(a.x)
    x = x.reshape(len(x), -1).astype(np.float64)
    rows, wall, cpu = [], 0.0, 0.0
    for name in a.estimator:
        est = ESTIMATORS[name]()
        kw = {"n_neighbors": a.k} if a.k and name in TAKES_K else {}
        t, c = time.perf_counter(), time.process_time()
        est.fit(x, **kw)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        wall, cpu = wall + dt, cpu + dc
        rows.append({"estimator": name, "dimension": float(est.dimension_), "seconds": dt, "cpu_seconds": dc})
    print(json.dumps({"n": x.shape[0], "d": x.shape[1], "estimates": rows, "seconds": wall, "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
